// Ledger throughput of one funding pool's Durable Object, driven from inside the Worker (as batches
// and delivery call it) through the bench-only route POST /dev/bench/pools:
//   0. the reference: bare one-row write RPCs to a Durable Object of their own (src/dev/bench-probe.ts)
//   1. single reserve + commit round trips (2 ledger RPC operations each) → ops/s
//   2. commits of 100 items per call against one hold → committed items/s
// BENCH_SECONDS (default 5 per phase), BENCH_CONCURRENCY (default 4 concurrent callers).
import { startWorker } from "./worker.mjs";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const ITEMS = 100;

const worker = await startWorker();
try {
  const run = async (seconds, limits) => {
    const res = await fetch(`${worker.url}/dev/bench/pools`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ seconds, concurrency: CONCURRENCY, itemsPerCommit: ITEMS, limits }),
    });
    if (!res.ok) throw new Error(`bench route answered ${res.status}: ${await res.text()}`);
    return res.json();
  };
  await run(1); // warm-up: lets V8 in workerd optimise the hot paths first
  const r = await run(SECONDS);
  if (!r.integrity_ok) throw new Error("pool integrity check failed after the benchmark");
  // The same with every limit set: the per-recipient daily limit needs an index on items by
  // recipient, which pools without that limit do not keep (see PoolStore.indexRecipients).
  const limited = await run(Math.max(1, SECONDS / 2), { daily_commit_limit: 2 ** 52, recipient_daily_limit: 2 ** 40, max_hold_amount: 2 ** 51 });
  if (!limited.integrity_ok) throw new Error("pool integrity check failed after the benchmark (with limits)");
  console.log(`runtime: ${worker.runtime}`);
  console.log(`callers: ${CONCURRENCY} concurrent, ${SECONDS} s per phase, one pool`);
  const ratio = r.ops_per_s / r.bare_write_rpcs_per_s;
  console.log(`reference: bare one-row write RPCs to a Durable Object → ${r.bare_write_rpcs_per_s.toFixed(0)}/s`);
  console.log(
    `reserve+commit round trips: ${r.round_trips} → ${r.round_trips_per_s.toFixed(0)}/s = ${r.ops_per_s.toFixed(0)} ledger ops/s, ${ratio.toFixed(2)} × the bare write RPC (target ≥ 0.8 ×)`,
  );
  console.log(`commits of ${ITEMS} items: ${r.commit_calls} calls, ${r.items} items → ${r.items_per_s.toFixed(0)} items/s (target ≥ 100,000)`);
  console.log(`with daily, per-recipient and per-hold limits set: ${limited.ops_per_s.toFixed(0)} ledger ops/s, ${limited.items_per_s.toFixed(0)} items/s`);
  console.log(
    JSON.stringify({
      bench: "pools",
      ops_per_s: Math.round(r.ops_per_s),
      bare_write_rpcs_per_s: Math.round(r.bare_write_rpcs_per_s),
      ops_ratio_to_bare_write: Number(ratio.toFixed(3)),
      items_per_s: Math.round(r.items_per_s),
      limited_ops_per_s: Math.round(limited.ops_per_s),
      limited_items_per_s: Math.round(limited.items_per_s),
      runtime: "miniflare",
    }),
  );
} finally {
  await worker.dispose();
}
