// One batch from upload to reconciliation, through the HTTP API of the local Worker, with the time of
// each phase: upload (CSV in chunks), preview, submit (reserves the pool), approve (every policy step),
// release (the operator's POST /release: the org's release default is manual here so that release is
// its own phase), deliver (until the batch is completed: fan-out, cards, pool commits, emails to a fake
// Resend on 127.0.0.1) and reconcile (POST /v1/reconciliations until the run completes).
// BENCH_RECIPIENTS (default 1,000,000), BENCH_CHUNK_ROWS (default 25,000). Prints workerd's peak RSS.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { startFakeResend } from "./fake-resend.mjs";
import { cpuSeconds, startWorker, workerdPids, apiClient, benchTokens } from "./worker.mjs";

const N = Number(process.env.BENCH_RECIPIENTS ?? 1_000_000);
const CHUNK = Number(process.env.BENCH_CHUNK_ROWS ?? 25_000);
const AMOUNT = 500;

const provider = await startFakeResend();
const worker = await startWorker({ vars: { RESEND_API_KEY: "re_bench", RESEND_BASE_URL: provider.url } });
const tokens = await benchTokens();

const api = apiClient(worker);

async function until(what, check, limitMs) {
  const started = performance.now();
  for (;;) {
    const done = await check();
    if (done) return done;
    if (performance.now() - started > limitMs) throw new Error(`${what}: not done after ${limitMs / 60_000} minutes`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Peak resident memory (VmHWM) of the workerd processes, in MB. */
function peakRssMb(pids) {
  let kb = 0;
  for (const pid of pids) {
    try {
      kb += Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    } catch {}
  }
  return Math.round(kb / 1024);
}

const phases = {};
async function phase(name, fn) {
  const t = performance.now();
  const out = await fn();
  phases[name] = Number(((performance.now() - t) / 1000).toFixed(2));
  console.log(`  ${name.padEnd(9)} ${phases[name].toFixed(2).padStart(8)} s`);
  return out;
}

try {
  const pids = workerdPids();
  const cpuStarted = cpuSeconds(pids);
  await api("/v1/settings", { token: tokens.admin, method: "PUT", body: { release_defaults: { auto_release: false } } });
  const pool = await api("/v1/pools", { token: tokens.finance, body: { name: "bench", currency: "USD" } });
  await api(`/v1/pools/${pool.id}/fund`, { token: tokens.finance, body: { amount: N * AMOUNT * 2 } });
  const product = await api("/v1/products", {
    token: tokens.admin,
    body: { name: "Bench card", kind: "stored_value", currency: "USD", min_amount: 100, max_amount: 100_000, countries: ["US"] },
  });
  const batch = await api("/v1/batches", {
    token: tokens.operator,
    body: {
      name: "bench e2e",
      campaign: "bench",
      business_owner: "Bench",
      cost_center: "CC-1",
      expected_delivery_date: "2026-12-31",
      expected_count: N,
      pool_id: pool.id,
      product_id: product.id,
      channel: "email",
    },
  });
  // The client's input, made before the clock starts.
  const chunks = [];
  for (let start = 0; start < N; start += CHUNK) {
    const lines = ["external_id,name,email,country,amount,currency"];
    for (let i = start; i < Math.min(N, start + CHUNK); i++) lines.push(`e${i},Person ${i},person${i}@example.com,US,${AMOUNT},USD`);
    chunks.push(lines.join("\n"));
  }
  console.log(`batch of ${N.toLocaleString("en")} stored-value cards by email, ${chunks.length} chunks; phases:`);
  const started = performance.now();
  await phase("upload", async () => {
    for (const csv of chunks) await api(`/v1/batches/${batch.id}/recipients`, { token: tokens.operator, raw: csv, contentType: "text/csv" });
  });
  chunks.length = 0;
  const preview = await phase("preview", () => api(`/v1/batches/${batch.id}/preview`, { token: tokens.operator }));
  const valid = preview.counts?.valid ?? preview.valid_count;
  await phase("submit", () => api(`/v1/batches/${batch.id}/submit`, { token: tokens.operator, body: {} }));
  await phase("approve", async () => {
    const approvals = await api(`/v1/batches/${batch.id}/approvals`, { token: tokens.admin });
    for (const step of approvals.steps ?? [{ role: "finance" }]) {
      const token = step.role === "owner" ? tokens.owner : tokens.finance;
      await api(`/v1/batches/${batch.id}/approvals`, { token, body: { decision: "approve", comment: "bench" } });
    }
  });
  await phase("release", () => api(`/v1/batches/${batch.id}/release`, { token: tokens.operator, body: {} }));
  const final = await phase("deliver", () =>
    until(
      "delivery",
      async () => {
        const b = await api(`/v1/batches/${batch.id}`, { token: tokens.admin });
        return b.status === "completed" || b.status === "completed_with_errors" ? b : null;
      },
      60 * 60_000,
    ),
  );
  const run = await phase("reconcile", async () => {
    const r = await api("/v1/reconciliations", { token: tokens.finance, body: {} });
    return until(
      "reconciliation",
      async () => {
        const cur = await api(`/v1/reconciliations/${r.id}`, { token: tokens.finance });
        return cur.status === "completed" || cur.status === "failed" ? cur : null;
      },
      30 * 60_000,
    );
  });
  const total = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(pids) - cpuStarted;
  const rss = peakRssMb(pids);
  console.log(`  ${"total".padEnd(9)} ${total.toFixed(2).padStart(8)} s → ${final.status}; reconciliation ${run.status}`);
  console.log(`deliveries: ${valid ?? "?"} valid recipients, ${provider.stats.emails} emails sent; workerd CPU ${cpu.toFixed(1)} s, peak RSS ${rss} MB`);
  console.log(`reconciliation: ${run.findings.total} findings ${JSON.stringify(run.findings.by_kind)}, ${run.progress?.steps ?? "?"} steps`);
  if (final.status !== "completed") throw new Error(`batch ended ${final.status}`);
  if (provider.stats.emails !== N) throw new Error(`${provider.stats.emails} emails for ${N} recipients`);
  console.log(
    JSON.stringify({
      bench: "e2e",
      recipients: N,
      seconds: Number(total.toFixed(2)),
      phases_s: phases,
      deliveries_per_s_overall: Math.round(N / total),
      workerd_cpu_s: Number(cpu.toFixed(1)),
      peak_rss_mb: rss,
      reconciliation: run.status,
      reconciliation_findings: run.findings.total,
    }),
  );
} finally {
  await worker.dispose();
  await provider.close();
}
