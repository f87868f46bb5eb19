// Checkout throughput of stored-value cards: BENCH_CARDS cards (default 10,000) are issued through a
// batch (as in the delivery bench), then BENCH_CALLERS concurrent callers (default 8) send
// POST /v1/redemptions (capture, 1 cent, a fresh reference each) to the local Worker, card after card.
//   phase 1 "first": one redemption per card, its first operation (the card's Durable Object wakes and
//            initialises its ledger from the D1 row);
//   phase 2 "steady": BENCH_ROUNDS (default 2) more redemptions per card: the figure the target is for.
// Beside it, the same callers run the plain conditional UPDATE (`UPDATE … SET balance = balance - ?
// WHERE id = ? AND balance >= ?` on a D1 table of as many balances, src/dev/redemption-probe.ts)
// through the same socket and Worker, and the ratio is printed. D1 rows written and read per
// redemption come from the bench counters (src/dev/metrics.ts: the /v1/redemptions requests and the
// cards' Durable Objects), with the rows written by statement.
import { performance } from "node:perf_hooks";
import { startFakeResend } from "./fake-resend.mjs";
import { cpuSplit, startWorker, workerdPids, apiClient, benchTokens, submittedCardBatch } from "./worker.mjs";

const CARDS = Number(process.env.BENCH_CARDS ?? 10_000);
const CALLERS = Number(process.env.BENCH_CALLERS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const AMOUNT = 500;
const CHUNK = 25_000;

const provider = await startFakeResend();
const worker = await startWorker({ vars: { RESEND_API_KEY: "re_bench", RESEND_BASE_URL: provider.url } });
const tokens = await benchTokens();

const api = apiClient(worker);

/** Issues CARDS stored-value cards through one approved batch; returns their ids. */
async function issueCards() {
  const batch = await submittedCardBatch(api, tokens, { n: CARDS, amount: AMOUNT, chunk: CHUNK, product: { expires_after_days: 365 } });
  const approvals = await api(`/v1/batches/${batch.id}/approvals`, { token: tokens.admin });
  for (const step of approvals.steps ?? [{ role: "finance" }]) {
    await api(`/v1/batches/${batch.id}/approvals`, {
      token: step.role === "owner" ? tokens.owner : tokens.finance,
      body: { decision: "approve", comment: "bench" },
    });
  }
  const started = performance.now();
  for (;;) {
    const { status } = await api(`/v1/batches/${batch.id}`, { token: tokens.admin });
    if (status === "completed") break;
    if (status === "completed_with_errors") throw new Error("some cards were not issued");
    if (performance.now() - started > 10 * 60_000) throw new Error(`batch still ${status} after 10 minutes`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const ids = [];
  for (let cursor = null; ; ) {
    const page = await api(`/v1/cards?batch_id=${batch.id}&limit=500${cursor ? `&cursor=${cursor}` : ""}`, { token: tokens.finance });
    ids.push(...page.data.map((c) => c.id));
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  if (ids.length !== CARDS) throw new Error(`expected ${CARDS} cards, found ${ids.length}`);
  return ids;
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/**
 * CALLERS callers send `count` requests between them, request i to target(i); each request's
 * latency is kept. Every answer must be the expected status.
 */
async function drive(count, request) {
  const latencies = new Float64Array(count);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      for (let i = next++; i < count; i = next++) {
        const t = performance.now();
        await request(i);
        latencies[i] = performance.now() - t;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const sorted = [...latencies].sort((a, b) => a - b);
  return { count, seconds, per_s: count / seconds, p50_ms: pct(sorted, 50), p99_ms: pct(sorted, 99) };
}

async function post(path, token, body, expected) {
  const res = await fetch(`${worker.url}${path}`, {
    method: "POST",
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== expected) throw new Error(`POST ${path} → ${res.status} ${text.slice(0, 300)}`);
  return text;
}

const redeemOnce = (ids, round) => (i) =>
  post("/v1/redemptions", tokens.integrator, { card_id: ids[i % ids.length], amount: 1, currency: "USD", reference: `bench-${round}-${i}` }, 201);
const probeOnce = (i) =>
  post("/dev/bench/redemption-probe", null, { id: `p${i % CARDS}`, amount: 1 }, 200).then((text) => {
    if (!JSON.parse(text).ok) throw new Error("the probe refused a redemption");
  });

const metrics = (reset) => api(`/dev/bench/metrics${reset ? "?reset" : ""}`, { token: tokens.admin });
const perOp = (m, n) => ({
  d1_rows_written: Number((m.d1_rows_written / n).toFixed(3)),
  d1_rows_read: Number((m.d1_rows_read / n).toFixed(3)),
  d1_queries: Number((m.d1_queries / n).toFixed(3)),
  object_starts: Number((m.card_object_starts / n).toFixed(3)),
  by_statement: Object.fromEntries(Object.entries(m.d1_rows_written_by_statement).map(([k, v]) => [k, Number((v / n).toFixed(3))])),
});

try {
  const ids = await issueCards();
  await post("/dev/bench/redemption-probe", null, { seed: CARDS, balance: AMOUNT }, 200);
  const pids = workerdPids();

  await metrics(true);
  const first = await drive(CARDS, redeemOnce(ids, 0));
  const firstD1 = perOp(await metrics(true), CARDS);

  const steadyCount = CARDS * ROUNDS;
  const cpuDelta = (a, b) => ({ user: b.user - a.user, system: b.system - a.system });
  const cpu0 = cpuSplit(pids);
  const steady = await drive(steadyCount, (i) => redeemOnce(ids, 1 + Math.floor(i / CARDS))(i));
  const steadyCpu = cpuDelta(cpu0, cpuSplit(pids));
  const cpu = steadyCpu.user + steadyCpu.system;
  const steadyD1 = perOp(await metrics(true), steadyCount);

  const probeCpu0 = cpuSplit(pids);
  const probe = await drive(steadyCount, probeOnce);
  const probeCpu = cpuDelta(probeCpu0, cpuSplit(pids));
  const probeD1 = perOp(await metrics(true), steadyCount);
  const us = (s) => Math.round((s / steadyCount) * 1e6);

  // Every card must have lost exactly what was redeemed from it.
  const sample = await api(`/v1/cards/${ids[0]}`, { token: tokens.finance });
  if (sample.balance.redeemed !== 1 + ROUNDS || sample.balance.available !== AMOUNT - 1 - ROUNDS) {
    throw new Error(`card ${ids[0]} does not add up: ${JSON.stringify(sample.balance)}`);
  }
  const ratio = steady.per_s / probe.per_s;
  const f = (x) => x.toFixed(2);
  console.log(`runtime: ${worker.runtime}; ${CARDS} cards, ${CALLERS} concurrent callers, capture of 1 cent per request`);
  console.log(
    `first redemption of each card (its object wakes up): ${first.per_s.toFixed(0)}/s, p50 ${f(first.p50_ms)} ms, p99 ${f(first.p99_ms)} ms; ` +
      `D1 ${firstD1.d1_rows_written} rows written per redemption ${JSON.stringify(firstD1.by_statement)}`,
  );
  console.log(
    `redemptions (${ROUNDS} more per card): ${steady.count} in ${f(steady.seconds)} s = ${steady.per_s.toFixed(0)}/s (target ≥ 2,000), p50 ${f(steady.p50_ms)} ms, p99 ${f(steady.p99_ms)} ms; workerd CPU ${us(cpu)} µs per redemption (user ${us(steadyCpu.user)}, system ${us(steadyCpu.system)}); ${steadyD1.object_starts} card object starts per redemption`,
  );
  console.log(
    `D1 per redemption: ${steadyD1.d1_rows_written} rows written (target ≤ 4) ${JSON.stringify(steadyD1.by_statement)}, ${steadyD1.d1_rows_read} rows read, ${steadyD1.d1_queries} queries`,
  );
  console.log(
    `plain conditional UPDATE in D1 (same callers, same socket): ${probe.per_s.toFixed(0)}/s, p50 ${f(probe.p50_ms)} ms, p99 ${f(probe.p99_ms)} ms, ` +
      `${probeD1.d1_rows_written} rows written, workerd CPU ${us(probeCpu.user + probeCpu.system)} µs per update (user ${us(probeCpu.user)}, system ${us(probeCpu.system)}); the card ledger runs at ${ratio.toFixed(2)}× its rate`,
  );
  console.log(
    JSON.stringify({
      bench: "redemptions",
      redemptions_per_s: Math.round(steady.per_s),
      p50_ms: Number(f(steady.p50_ms)),
      p99_ms: Number(f(steady.p99_ms)),
      d1_rows_written_per_redemption: steadyD1.d1_rows_written,
      d1_rows_read_per_redemption: steadyD1.d1_rows_read,
      d1_rows_written_by_statement: steadyD1.by_statement,
      probe_per_s: Math.round(probe.per_s),
      probe_p50_ms: Number(f(probe.p50_ms)),
      probe_p99_ms: Number(f(probe.p99_ms)),
      ratio_to_probe: Number(ratio.toFixed(3)),
      first_redemption_per_s: Math.round(first.per_s),
      first_d1_rows_written_per_redemption: firstD1.d1_rows_written,
      workerd_cpu_us_per_redemption: us(cpu),
      workerd_user_cpu_us_per_redemption: us(steadyCpu.user),
      workerd_system_cpu_us_per_redemption: us(steadyCpu.system),
      probe_workerd_cpu_us: us(probeCpu.user + probeCpu.system),
      card_object_starts_per_redemption: steadyD1.object_starts,
      cards: CARDS,
      callers: CALLERS,
    }),
  );
} finally {
  await worker.dispose();
  await provider.close();
}
