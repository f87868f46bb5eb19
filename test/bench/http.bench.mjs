// Throughput and latency of an authenticated request: GET /v1/me (JWT verification, routing,
// middleware) with BENCH_CONCURRENCY keep-alive connections (default 10) for BENCH_SECONDS (default 10).
// The client is node:http with a keep-alive agent rather than fetch: on a small machine the client
// shares the CPU with workerd, and fetch's per-request overhead would show up in the figures.
// To measure another server instead (e.g. a running `wrangler dev`), set BENCH_URL and BENCH_TOKEN
// (`npm run -s token`).
import http from "node:http";
import { performance } from "node:perf_hooks";
import { devToken, startWorker } from "./worker.mjs";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10);
const WARMUP_SECONDS = Math.min(2, SECONDS / 5); // lets V8 in workerd optimise before we measure
const PATH = "/v1/me";

const worker = process.env.BENCH_URL
  ? { url: process.env.BENCH_URL, runtime: `external server at ${process.env.BENCH_URL}`, dispose: async () => {} }
  : await startWorker();
try {
  const token = process.env.BENCH_TOKEN ?? (await devToken({ org: "bench", sub: "bench-user", roles: ["operator"] }));
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const { hostname, port } = new URL(worker.url);
  const options = { agent, hostname, port, path: PATH, headers: { authorization: `Bearer ${token}` } };

  const get = () =>
    new Promise((resolve, reject) => {
      const req = http.get(options, (res) => {
        res.resume(); // the body is not needed, but must be read for the socket to be reused
        res.on("end", () => resolve(res.statusCode)).on("error", reject);
      });
      req.on("error", reject);
    });

  /** Runs CONCURRENCY request loops for `seconds`; returns latencies (ms) and the failures seen. */
  async function load(seconds) {
    const latencies = [];
    const failures = new Map();
    const deadline = performance.now() + seconds * 1000;
    const loop = async () => {
      while (performance.now() < deadline) {
        const started = performance.now();
        const status = await get();
        latencies.push(performance.now() - started);
        if (status !== 200) failures.set(status, (failures.get(status) ?? 0) + 1);
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, loop));
    return { latencies, failures, elapsed: (performance.now() - started) / 1000 };
  }

  await load(WARMUP_SECONDS);
  const { latencies, failures, elapsed } = await load(SECONDS);
  agent.destroy();

  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  const round = (n, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
  const figures = {
    bench: "http",
    requests_per_s: Math.round(latencies.length / elapsed),
    p50_ms: round(pct(50)),
    p99_ms: round(pct(99)),
    runtime: worker.runtime,
  };

  console.log(`runtime:       ${worker.runtime}`);
  console.log(`request:       GET ${PATH} (bearer JWT), node:http keep-alive client`);
  console.log(`concurrency:   ${CONCURRENCY}`);
  console.log(`duration:      ${round(elapsed, 1)} s (after ${WARMUP_SECONDS} s warm-up)`);
  console.log(`requests:      ${latencies.length}`);
  console.log(`requests/s:    ${figures.requests_per_s}`);
  console.log(`latency p50:   ${figures.p50_ms} ms`);
  console.log(`latency p99:   ${figures.p99_ms} ms`);
  if (failures.size > 0) {
    const summary = [...failures].map(([status, n]) => `${n}× ${status}`).join(", ");
    throw new Error(`non-200 responses: ${summary}`);
  }
  console.log(JSON.stringify(figures));
} finally {
  await worker.dispose();
}
