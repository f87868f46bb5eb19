// Webhook delivery throughput: BENCH_EVENTS events (default 100,000) of one org go to 3 endpoints on a
// local receiver (a Node HTTP server in this process), through the real outbox statement, the
// fan-out, the webhooks queue and the signed sends of the local Worker. Two runs, each on a fresh
// Worker: 3 healthy endpoints, then the same 3 plus one dead endpoint, once per kind in BENCH_DEAD
// (default "503,timeout": one that answers 503 at once, then one that never answers, so the fast
// lane gives up on it after 2 s and the slow lane waits its 15 s timeout). The clock runs from the first event written to the last healthy delivery received.
// Figures: deliveries/s and events/s (an event counts when all 3 healthy endpoints have it),
// end-to-end latency (event created_at → received) p50/p99, D1 rows written per event (the outbox
// insert, counted by the bench route, plus the queue consumers', counted by the bench counters of
// src/dev/metrics.ts), and how much the dead endpoint slowed the healthy ones (target < 10 %).
import http from "node:http";
import { performance } from "node:perf_hooks";
import { Webhook } from "standardwebhooks";
import { cpuSeconds, devToken, startWorker, workerdPids } from "./worker.mjs";

const N = Number(process.env.BENCH_EVENTS ?? 100_000);
const DEADS = (process.env.BENCH_DEAD ?? "503,timeout").split(",").filter(Boolean);
const PER_REQUEST = 2_000;
const HEALTHY = ["a", "b", "c"];
const VERIFY_EVERY = 100;

/** The local receiver: /a, /b, /c answer 204; /dead answers 503 (or never, DEAD "timeout"). Records first arrivals. */
async function startReceiver(DEAD) {
  const seen = new Map(HEALTHY.map((p) => [p, new Set()]));
  const latencies = [];
  const stats = { connections: 0, requests: 0, duplicates: 0, dead: 0, verified: 0, lastAt: 0, secrets: new Map() };
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      stats.requests++;
      const path = req.url.slice(1);
      if (path === "dead") {
        stats.dead++;
        if (DEAD === "timeout") return; // never answers: the sender's 15 s timeout ends it
        res.writeHead(503).end("down");
        return;
      }
      const ids = seen.get(path);
      if (!ids) return res.writeHead(404).end();
      const id = req.headers["webhook-id"];
      if (ids.has(id)) stats.duplicates++;
      else {
        ids.add(id);
        const now = Date.now();
        latencies.push(now - Date.parse(JSON.parse(body).created_at));
        stats.lastAt = performance.now();
        // A sample is verified with the same library that signed it.
        if (ids.size % VERIFY_EVERY === 0) {
          new Webhook(stats.secrets.get(path)).verify(body, req.headers);
          stats.verified++;
        }
      }
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on("connection", () => stats.connections++);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, latencies, stats, close: () => new Promise((r) => server.close(r)) };
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function runOnce({ dead }) {
  const receiver = await startReceiver(dead);
  const worker = await startWorker();
  const admin = await devToken({ org: "bench", sub: "bench-admin", roles: ["admin"] });
  const call = async (path, body, token = admin) => {
    const res = await fetch(`${worker.url}${path}`, {
      method: body ? "POST" : "GET",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path} → ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : null;
  };
  try {
    for (const p of [...HEALTHY, ...(dead ? ["dead"] : [])]) {
      const ep = await call("/v1/webhook-endpoints", { url: `${receiver.url}/${p}`, events: ["delivery.delivered"], description: `bench ${p}` });
      receiver.stats.secrets.set(p, ep.secret);
    }
    await call("/dev/bench/metrics?reset");
    const pids = workerdPids();
    const cpuStarted = cpuSeconds(pids);
    const started = performance.now();
    const nodeCpu = process.cpuUsage();
    let outboxRows = 0;
    for (let from = 0; from < N; from += PER_REQUEST) {
      const r = await call("/dev/bench/webhook-events", { org: "bench", prefix: "dlv_bench_", from, count: Math.min(PER_REQUEST, N - from) });
      outboxRows += r.rows_written;
    }
    const written = (performance.now() - started) / 1000;
    const done = () => HEALTHY.every((p) => receiver.seen.get(p).size >= N);
    while (!done()) {
      if (performance.now() - started > 20 * 60_000) throw new Error(`not delivered after 20 minutes: ${HEALTHY.map((p) => receiver.seen.get(p).size)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (receiver.stats.lastAt - started) / 1000;
    const workerdCpu = cpuSeconds(pids) - cpuStarted;
    const nodeUsage = process.cpuUsage(nodeCpu);
    const m = await call("/dev/bench/metrics");
    const sorted = receiver.latencies.sort((a, b) => a - b);
    return {
      seconds,
      written,
      deliveries_per_s: Math.round((HEALTHY.length * N) / seconds),
      events_per_s: Math.round(N / seconds),
      p50_ms: pct(sorted, 50),
      p99_ms: pct(sorted, 99),
      rows_written_per_event: Number(((outboxRows + m.d1_rows_written) / N).toFixed(2)),
      outbox_rows_per_event: Number((outboxRows / N).toFixed(2)),
      consumer_rows_per_event: Number((m.d1_rows_written / N).toFixed(2)),
      d1_queries_per_event: Number((m.d1_queries / N).toFixed(3)),
      dead_attempts: receiver.stats.dead,
      connections: receiver.stats.connections,
      duplicates: receiver.stats.duplicates,
      verified: receiver.stats.verified,
      workerd_cpu_us_per_delivery: Number(((workerdCpu / (HEALTHY.length * N)) * 1e6).toFixed(1)),
      receiver_cpu_us_per_delivery: Number(((nodeUsage.user + nodeUsage.system) / (HEALTHY.length * N)).toFixed(1)),
    };
  } finally {
    await worker.dispose();
    await receiver.close();
  }
}

function print(label, r) {
  console.log(
    `${label}: ${N} events × ${HEALTHY.length} healthy endpoints in ${r.seconds.toFixed(2)} s (events written in ${r.written.toFixed(2)} s) = ` +
      `${r.deliveries_per_s} deliveries/s, ${r.events_per_s} events/s (target ≥ 3,000 deliveries/s); latency p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms`,
  );
  console.log(
    `  D1 per event: ${r.rows_written_per_event} rows written (outbox ${r.outbox_rows_per_event}, consumer ${r.consumer_rows_per_event}), ${r.d1_queries_per_event} consumer queries; ` +
      `workerd CPU ${r.workerd_cpu_us_per_delivery} µs per healthy delivery (the receiver and bench process: ${r.receiver_cpu_us_per_delivery} µs); duplicates ${r.duplicates}; ${r.verified} sampled signatures verified; attempts at the dead endpoint: ${r.dead_attempts}; receiver connections ${r.connections}`,
  );
}

const healthy = await runOnce({ dead: false });
print("healthy", healthy);
const withDead = {};
for (const dead of DEADS) {
  const r = await runOnce({ dead });
  withDead[dead] = r;
  print(`with a dead endpoint (${dead === "timeout" ? "never answers" : "answers 503"})`, r);
  const ratio = r.deliveries_per_s / healthy.deliveries_per_s;
  const cpuRatio = r.workerd_cpu_us_per_delivery / healthy.workerd_cpu_us_per_delivery;
  r.slowdown_pct = Number(((1 - ratio) * 100).toFixed(1));
  r.cpu_overhead_pct = Number(((cpuRatio - 1) * 100).toFixed(1));
  console.log(`the dead endpoint slowed the healthy ones by ${r.slowdown_pct} % (ratio ${ratio.toFixed(3)}; target < 10 %)`);
  // On a shared machine wall time swings by more than 10 % between two runs; the Worker's CPU per
  // healthy delivery is the steadier measure of what the dead endpoint cost.
  console.log(`workerd CPU per healthy delivery with the dead endpoint: ${r.cpu_overhead_pct} % more`);
}
const first = withDead[DEADS[0]];
console.log(
  JSON.stringify({
    bench: "webhooks",
    events: N,
    endpoints: HEALTHY.length,
    deliveries_per_s: healthy.deliveries_per_s,
    events_per_s: healthy.events_per_s,
    p50_ms: healthy.p50_ms,
    p99_ms: healthy.p99_ms,
    d1_rows_written_per_event: healthy.rows_written_per_event,
    d1_rows_written_per_delivery: Number((healthy.rows_written_per_event / HEALTHY.length).toFixed(2)),
    workerd_cpu_us_per_delivery: healthy.workerd_cpu_us_per_delivery,
    dead_endpoint: DEADS.join(","),
    ...(first
      ? {
          deliveries_per_s_with_dead: first.deliveries_per_s,
          dead_slowdown_pct: first.slowdown_pct,
          dead_cpu_overhead_pct: first.cpu_overhead_pct,
          dead_attempts: first.dead_attempts,
        }
      : {}),
    ...(withDead.timeout && DEADS[0] !== "timeout"
      ? {
          deliveries_per_s_with_hang: withDead.timeout.deliveries_per_s,
          hang_slowdown_pct: withDead.timeout.slowdown_pct,
          hang_cpu_overhead_pct: withDead.timeout.cpu_overhead_pct,
          hang_attempts: withDead.timeout.dead_attempts,
        }
      : {}),
    duplicates: healthy.duplicates + Object.values(withDead).reduce((n, r) => n + r.duplicates, 0),
  }),
);
