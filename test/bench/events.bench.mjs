// Events through campaigns, end to end: BENCH_EVENTS events (default 100,000) of 5 types across 10
// active campaigns (2 per type, mixed CEL rules, tiers and caps; about a third of the events earn a
// reward) are posted to POST /v1/events/batch in requests of BENCH_BATCH events (default 1,000),
// offered at BENCH_RATE events/s (default 5,000; 0 = as fast as the Worker answers) with up to
// BENCH_CONCURRENCY requests in flight (default 4). The route evaluates inline (its answer is every
// event's outcomes), so "accepted" and "evaluated" are the same moment; the rewards go through the
// delivery queue as stored-value cards by email to a fake Resend on 127.0.0.1, and the clock of each
// reward runs from the moment its request was sent until its delivery's delivered_at.
// D1 rows and pool DO calls come from the bench counters (src/dev/metrics.ts): the event route's
// apart from the queue consumers'.
import { performance } from "node:perf_hooks";
import { startFakeResend } from "./fake-resend.mjs";
import { cpuSeconds, startWorker, workerdPids, apiClient, benchTokens } from "./worker.mjs";

const N = Number(process.env.BENCH_EVENTS ?? 100_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 1000);
const RATE = Number(process.env.BENCH_RATE ?? 5000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const CUSTOMERS = Math.max(100, Math.round(N / 5));

const provider = await startFakeResend();
const worker = await startWorker({ vars: { RESEND_API_KEY: "re_bench", RESEND_BASE_URL: provider.url } });
const tokens = await benchTokens();

const api = apiClient(worker);

/** A deterministic pseudo-random sequence, so every run posts the same events. */
let seed = 42;
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};

// 10 campaigns, 2 per event type: thresholds, tiers by customer attribute, country, presence of a
// property, list sizes, the customer's history in the campaign; caps per customer and per campaign.
const CAMPAIGNS = [
  {
    name: "Big orders",
    trigger: { event: "order.paid" },
    rules: "event.properties.total >= 15000",
    reward: {
      tiers: [
        { when: 'customer.attributes.tier == "gold"', amount: 2500 },
        { when: "true", amount: 1000 },
      ],
    },
    limits: { per_customer: { count: 2, period: "day" } },
  },
  {
    name: "First order in Canada",
    trigger: { event: "order.paid" },
    rules: 'customer.country == "CA" && event.properties.first == true',
    reward: { amount: 500 },
  },
  { name: "Survey thanks", trigger: { event: "survey.completed" }, rules: "event.properties.score >= 8", reward: { amount: 300 } },
  {
    name: "Detractor recovery",
    trigger: { event: "survey.completed" },
    rules: "event.properties.score <= 1",
    reward: { amount: 500 },
    limits: { per_customer: { count: 1, period: "lifetime" } },
  },
  { name: "Referred signup", trigger: { event: "signup.completed" }, rules: "has(event.properties.ref)", reward: { amount: 1000 } },
  {
    name: "Gold signup",
    trigger: { event: "signup.completed" },
    rules: 'customer.attributes.tier == "gold"',
    reward: { amount: 2000 },
    limits: { per_campaign: { amount: 50_000_000, period: "day" } },
  },
  {
    name: "Good review",
    trigger: { event: "review.posted" },
    rules: "event.properties.stars >= 5 && size(event.properties.text) > 40",
    reward: { amount: 200 },
  },
  {
    name: "Photo review",
    trigger: { event: "review.posted" },
    rules: "event.properties.photo == true",
    reward: { amount: 400 },
    limits: { per_customer: { count: 3, period: "week" } },
  },
  {
    name: "Level up",
    trigger: { event: "milestone.reached" },
    reward: {
      tiers: [
        { when: "event.properties.level >= 20", amount: 1500 },
        { when: "event.properties.level >= 12", amount: 800 },
      ],
    },
  },
  {
    name: "First milestone",
    trigger: { event: "milestone.reached" },
    rules: "customer.rewards_received < 1 && event.properties.level >= 6 && event.properties.level < 12",
    reward: { amount: 700 },
  },
];

function customer(i) {
  return {
    external_id: `c${i}`,
    email: `c${i}@example.com`,
    country: i % 4 === 0 ? "CA" : "US",
    name: `Customer ${i}`,
    attributes: { tier: i % 5 === 0 ? "gold" : "silver" },
  };
}

function event(n) {
  const type = ["order.paid", "survey.completed", "signup.completed", "review.posted", "milestone.reached"][n % 5];
  const properties =
    type === "order.paid"
      ? { total: Math.floor(rand() * 20_000), first: rand() < 0.3 }
      : type === "survey.completed"
        ? { score: Math.floor(rand() * 11) }
        : type === "signup.completed"
          ? rand() < 0.2
            ? { ref: `r${n}` }
            : {}
          : type === "review.posted"
            ? { stars: 1 + Math.floor(rand() * 5), text: "x".repeat(Math.floor(rand() * 80)), photo: rand() < 0.12 }
            : { level: Math.floor(rand() * 25) };
  return { id: `bench-evt-${n}`, type, occurred_at: new Date().toISOString(), customer: customer(Math.floor(rand() * CUSTOMERS)), properties };
}

const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null);

try {
  const pool = await api("/v1/pools", { token: tokens.finance, body: { name: "bench", currency: "USD" } });
  await api(`/v1/pools/${pool.id}/fund`, { token: tokens.finance, body: { amount: 1_000_000_000, reference: "bench" } });
  const product = await api("/v1/products", {
    token: tokens.admin,
    body: { name: "Bench card", kind: "stored_value", currency: "USD", min_amount: 100, max_amount: 100_000, countries: ["US", "CA"] },
  });
  for (const c of CAMPAIGNS) {
    const created = await api("/v1/campaigns", {
      token: tokens.operator,
      body: { ...c, reward: { product_id: product.id, channel: "email", ...c.reward }, pool_id: pool.id, budget: { amount: 90_000_000 } },
    });
    await api(`/v1/campaigns/${created.id}/activate`, { token: tokens.finance, body: {} });
  }
  const batches = [];
  for (let i = 0; i < N; i += BATCH) batches.push(Array.from({ length: Math.min(BATCH, N - i) }, (_, k) => event(i + k)));
  const db = await worker.mf.getD1Database("DB");
  await api("/dev/bench/metrics?reset", { token: tokens.admin });

  const pids = workerdPids();
  const cpuStarted = cpuSeconds(pids);
  const sentAt = new Map(); // event id → epoch ms its request left
  const answerMs = [];
  let rewarded = 0;
  let pending = 0;
  let evaluations = 0;
  const started = performance.now();
  const startedEpoch = Date.now();
  let next = 0;
  async function poster() {
    for (;;) {
      const b = next++;
      if (b >= batches.length) return;
      // Paced: batch b leaves no earlier than b × BATCH / RATE seconds after the start.
      if (RATE > 0) {
        const due = (b * BATCH * 1000) / RATE - (performance.now() - started);
        if (due > 0) await new Promise((r) => setTimeout(r, due));
      }
      const t0 = Date.now();
      for (const e of batches[b]) sentAt.set(e.id, t0);
      const t = performance.now();
      const answer = await api("/v1/events/batch", { token: tokens.integrator, body: { events: batches[b] } });
      answerMs.push(performance.now() - t);
      for (const a of answer.data) {
        if (a.error) throw new Error(`event ${a.id}: ${a.error.code} ${a.error.detail}`);
        evaluations += a.outcomes.length;
        rewarded += a.outcomes.filter((o) => o.outcome === "rewarded").length;
        pending += a.outcomes.filter((o) => o.outcome === "pending_approval").length;
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, poster));
  const acceptSeconds = (performance.now() - started) / 1000;
  const ingestCpu = cpuSeconds(pids) - cpuStarted;

  let delivered = 0;
  for (;;) {
    const row = await db.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE campaign_id IS NOT NULL AND status = 'delivered'").first();
    delivered = row.n;
    if (delivered >= rewarded) break;
    if (performance.now() - started > 15 * 60_000) throw new Error(`${delivered} of ${rewarded} rewards delivered after 15 minutes`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const allSeconds = (performance.now() - started) / 1000;
  const workerdCpu = cpuSeconds(pids) - cpuStarted;
  const { results } = await db
    .prepare("SELECT event_id, delivered_at FROM deliveries WHERE campaign_id IS NOT NULL AND status = 'delivered' AND delivered_at IS NOT NULL")
    .all();
  const latencies = results.map((r) => Date.parse(r.delivered_at) - sentAt.get(r.event_id)).sort((a, b) => a - b);
  const rewardedEvents = new Set(results.map((r) => r.event_id)).size;
  const m = await api("/dev/bench/metrics", { token: tokens.admin });
  const ev = m.events;
  const round = (x, d = 3) => Number(x.toFixed(d));
  const figures = {
    bench: "events",
    events: N,
    campaigns: CAMPAIGNS.length,
    offered_rate: RATE || "max",
    events_per_s_accepted: Math.round(N / acceptSeconds),
    events_per_s_evaluated: Math.round(N / acceptSeconds),
    evaluations_per_s: Math.round(evaluations / acceptSeconds),
    rewards: rewarded,
    rewarded_events_fraction: round(rewardedEvents / N),
    pending_approval: pending,
    delivered_latency_p50_ms: percentile(latencies, 50),
    delivered_latency_p99_ms: percentile(latencies, 99),
    delivered_latency_max_ms: latencies.at(-1) ?? null,
    request_p50_ms: round(
      percentile(
        [...answerMs].sort((a, b) => a - b),
        50,
      ),
      1,
    ),
    request_p99_ms: round(
      percentile(
        [...answerMs].sort((a, b) => a - b),
        99,
      ),
      1,
    ),
    seconds_to_last_delivery: round(allSeconds, 2),
    d1_rows_written_per_event: round(ev.d1_rows_written / N),
    d1_rows_read_per_event: round(ev.d1_rows_read / N),
    d1_queries_per_request: round(ev.d1_queries / batches.length, 2),
    do_calls_per_request: round(ev.do_calls / batches.length, 2),
    d1_rows_written_per_reward: round((ev.d1_rows_written + m.d1_rows_written) / Math.max(1, rewarded)),
    d1_rows_written_per_reward_delivery_only: round(m.d1_rows_written / Math.max(1, rewarded)),
    workerd_cpu_us_per_event_ingest: round((ingestCpu / N) * 1e6, 1),
    workerd_cpu_s_total: round(workerdCpu, 2),
    started_at: new Date(startedEpoch).toISOString(),
  };
  console.log(`runtime: ${worker.runtime}; provider: fake Resend at ${provider.url}`);
  console.log(
    `${N} events (${batches.length} requests of ≤ ${BATCH}, offered at ${RATE || "max"} events/s, ${CONCURRENCY} in flight) across ${CAMPAIGNS.length} campaigns → ` +
      `${figures.events_per_s_accepted} events/s accepted and evaluated (target ≥ 5,000; ${figures.evaluations_per_s} campaign evaluations/s); request p50 ${figures.request_p50_ms} ms, p99 ${figures.request_p99_ms} ms`,
  );
  console.log(
    `${rewarded} rewards (${(figures.rewarded_events_fraction * 100).toFixed(1)}% of events rewarded), all delivered ${allSeconds.toFixed(1)} s after the first request; ` +
      `event → delivered p50 ${figures.delivered_latency_p50_ms} ms, p99 ${figures.delivered_latency_p99_ms} ms (target ≤ 5,000), max ${figures.delivered_latency_max_ms} ms`,
  );
  console.log(
    `event route: ${figures.d1_rows_written_per_event} D1 rows written and ${figures.d1_rows_read_per_event} read per event; ` +
      `${figures.d1_queries_per_request} D1 queries and ${figures.do_calls_per_request} pool DO calls per request of ${BATCH}`,
  );
  console.log(
    `per reward: ${figures.d1_rows_written_per_reward} D1 rows written in all (event route + delivery), ${figures.d1_rows_written_per_reward_delivery_only} by the delivery consumer; ` +
      `provider calls ${provider.stats.calls} for ${provider.stats.emails} emails; workerd CPU ${figures.workerd_cpu_s_total} s (${figures.workerd_cpu_us_per_event_ingest} µs per event while posting)`,
  );
  if (process.env.BENCH_BY_STATEMENT) {
    for (const [who, c] of [
      ["event route", ev],
      ["queue consumers", m],
    ]) {
      console.log(`${who}, D1 rows written / read per event by statement:`);
      // by_statement: [queries, rows read, rows written] per statement (src/dev/metrics.ts).
      for (const [sql, [queries, read, written]] of Object.entries(c.by_statement)
        .sort((a, b) => b[1][2] - a[1][2])
        .slice(0, 12)) {
        console.log(`  ${(written / N).toFixed(3).padStart(8)} ${(read / N).toFixed(3).padStart(8)} ×${String(queries).padStart(5)}  ${sql}`);
      }
    }
  }
  console.log(JSON.stringify(figures));
} finally {
  await worker.dispose();
  await provider.close();
}
