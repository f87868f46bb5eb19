// End-to-end delivery throughput: a BENCH_RECIPIENTS-recipient batch (default 100,000) of stored-value
// cards by email is created, uploaded, submitted and approved through the API of the local Worker; the
// clock runs from the final approval (which releases it) until the batch is completed. Emails go to a
// fake Resend on 127.0.0.1. D1 rows and DO calls per delivery come from the bench counters
// (src/dev/metrics.ts, wrapped around the queue handler by the bench entry src/dev/bench-worker.ts),
// which count only queue-consumer work; provider calls are counted by the fake Resend.
// BENCH_RECIPIENTS sets the size (rows per delivery barely depend on it); BENCH_BREAKDOWN=1 also
// prints D1 rows read and written per delivery for each statement.
import { performance } from "node:perf_hooks";
import { startFakeResend } from "./fake-resend.mjs";
import { cpuSeconds, startWorker, workerdPids, apiClient, benchTokens, submittedCardBatch } from "./worker.mjs";

const N = Number(process.env.BENCH_RECIPIENTS ?? 100_000);

/**
 * Cloudflare list prices in USD per unit beyond the Workers Paid plan's included amounts, as
 * published on developers.cloudflare.com/{d1,queues,durable-objects,workers}/platform/pricing/,
 * read on 2026-12-08: D1 $0.001 per million rows read and $1.00 per million rows written; Queues
 * $0.40 per million operations (a message under 64 KB is three: write, read, delete); Durable
 * Objects $0.15 per million requests (every RPC call is one); Workers $0.02 per million CPU ms.
 */
const PRICES = { d1RowRead: 0.001e-6, d1RowWritten: 1.0e-6, queueOperation: 0.4e-6, doRequest: 0.15e-6, cpuMs: 0.02e-6 };
const QUEUE_OPS_PER_MESSAGE = 3;
const AMOUNT = 500;
const CHUNK = 25_000;

const provider = await startFakeResend();
const worker = await startWorker({ vars: { RESEND_API_KEY: "re_bench", RESEND_BASE_URL: provider.url } });
const tokens = await benchTokens();

const api = apiClient(worker);

try {
  const batch = await submittedCardBatch(api, tokens, { n: N, amount: AMOUNT, chunk: CHUNK });
  await api("/dev/bench/metrics?reset", { token: tokens.admin });
  const approvals = await api(`/v1/batches/${batch.id}/approvals`, { token: tokens.admin });
  const pids = workerdPids();
  const cpuStarted = cpuSeconds(pids);
  const started = performance.now();
  for (const step of approvals.steps ?? [{ role: "finance" }]) {
    const token = step.role === "owner" ? tokens.owner : tokens.finance;
    await api(`/v1/batches/${batch.id}/approvals`, { token, body: { decision: "approve", comment: "bench" } });
  }
  let status = "";
  for (;;) {
    ({ status } = await api(`/v1/batches/${batch.id}`, { token: tokens.admin }));
    if (status === "completed" || status === "completed_with_errors") break;
    if (performance.now() - started > 15 * 60_000) throw new Error(`batch still ${status} after 15 minutes`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const seconds = (performance.now() - started) / 1000;
  const workerdCpu = cpuSeconds(pids) - cpuStarted;
  const m = await api("/dev/bench/metrics", { token: tokens.admin });
  const per = (x) => Number((x / N).toFixed(4));
  // Dollars per million deliveries at list prices. Workers CPU is workerd's whole CPU here (the
  // Worker, the pool DO, and local D1's and Queues' own work), so that part is an upper bound; the
  // DO's duration and its own SQLite rows (one ledger entry per commit call, an item row per
  // delivery) are not counted.
  const usd = {
    d1: ((m.d1_rows_read * PRICES.d1RowRead + m.d1_rows_written * PRICES.d1RowWritten) / N) * 1e6,
    queues: ((m.queue_messages * QUEUE_OPS_PER_MESSAGE * PRICES.queueOperation) / N) * 1e6,
    durable_objects: ((m.do_calls * PRICES.doRequest) / N) * 1e6,
    workers_cpu: ((workerdCpu * 1000) / N) * PRICES.cpuMs * 1e6,
  };
  const usdTotal = usd.d1 + usd.queues + usd.durable_objects + usd.workers_cpu;
  const dollars = (x) => Number(x.toFixed(2));
  console.log(`runtime: ${worker.runtime}; provider: fake Resend at ${provider.url}`);
  console.log(`batch of ${N} stored-value cards by email → ${status} in ${seconds.toFixed(2)} s = ${(N / seconds).toFixed(0)} deliveries/s (target ≥ 5,000)`);
  console.log(
    `workerd CPU: ${workerdCpu.toFixed(2)} s (${((workerdCpu / N) * 1e6).toFixed(1)} µs per delivery; less noisy than wall time on a shared machine)`,
  );
  console.log(`D1 per delivery: ${per(m.d1_rows_written)} rows written, ${per(m.d1_rows_read)} rows read, ${per(m.d1_queries)} queries`);
  console.log(
    `pool DO calls per delivery: ${per(m.do_calls)} (target ≤ 0.02); provider calls per delivery: ${per(provider.stats.calls)} (target ≤ 0.02), ${provider.stats.emails} emails`,
  );
  console.log(
    `at list prices: $${usdTotal.toFixed(2)} per million deliveries (D1 $${usd.d1.toFixed(2)}, Queues $${usd.queues.toFixed(2)} for ${per(m.queue_messages)} messages per delivery, DO requests $${usd.durable_objects.toFixed(3)}, Workers CPU ≤ $${usd.workers_cpu.toFixed(2)})`,
  );
  if (process.env.BENCH_BREAKDOWN) {
    // Per statement (its SQL's first words): calls, rows read and rows written per delivery.
    const rows = Object.entries(m.by_statement).sort((a, b) => b[1][2] - a[1][2] || b[1][1] - a[1][1]);
    for (const [sql, [n, read, written]] of rows)
      console.log(`${per(written).toFixed(4).padStart(8)} w ${per(read).toFixed(4).padStart(8)} r ${String(n).padStart(6)}×  ${sql}`);
  }
  console.log(
    JSON.stringify({
      bench: "delivery",
      deliveries_per_s: Math.round(N / seconds),
      d1_rows_written_per_delivery: per(m.d1_rows_written),
      d1_rows_read_per_delivery: per(m.d1_rows_read),
      do_calls_per_delivery: per(m.do_calls),
      provider_calls_per_delivery: per(provider.stats.calls),
      usd_per_million_deliveries: dollars(usdTotal),
      usd_per_million: {
        d1: dollars(usd.d1),
        queues: dollars(usd.queues),
        durable_objects: Number(usd.durable_objects.toFixed(3)),
        workers_cpu: dollars(usd.workers_cpu),
      },
      queue_messages_per_delivery: per(m.queue_messages),
      recipients: N,
      workerd_cpu_us_per_delivery: Number(((workerdCpu / N) * 1e6).toFixed(1)),
    }),
  );
} finally {
  await worker.dispose();
  await provider.close();
}
