/**
 * Benchmark-only route (answers 404 unless ENVIRONMENT is "bench"): drives one pool's Durable Object
 * from inside the Worker, the way batches and delivery call it, and reports what it measured.
 * `npm run bench -- pools` calls it through the benchmarks' Worker entry (bench-worker.ts); the deployed Worker never serves it.
 */
import { Hono } from "hono";
import { AppError } from "../core/errors";
import type { AppEnv } from "../env";
import { poolStub } from "../pools/pool-client";
import type { BenchProbe } from "./bench-probe";

interface BenchRequest {
  seconds: number;
  concurrency: number;
  itemsPerCommit: number;
  limits?: Record<string, number>;
}

export const poolBench = new Hono<AppEnv>().post("/dev/bench/pools", async (c) => {
  if (c.env.ENVIRONMENT !== "bench") throw new AppError("not_found", "No such route");
  const { seconds, concurrency, itemsPerCommit, limits } = await c.req.json<BenchRequest>();
  const poolId = `pool_bench_${crypto.randomUUID()}`;
  const stub = poolStub(c.env, poolId);
  await stub.init({ poolId, org: "bench", currency: "USD", limits });
  await stub.fund({ opId: "seed", amount: Number.MAX_SAFE_INTEGER - 1, actor: "bench" });
  const expiresAt = Date.now() + 3_600_000;

  // Phase 0, the reference: bare one-row write RPCs to a Durable Object of their own, same callers.
  const probeNs = (c.env as unknown as { BENCH_PROBE?: DurableObjectNamespace<BenchProbe> }).BENCH_PROBE;
  if (!probeNs) throw new AppError("not_found", "BENCH_PROBE is not bound (test/bench/worker.mjs binds it)");
  const probe = probeNs.get(probeNs.idFromName(poolId));
  let bareWrites = 0;
  let deadline = Date.now() + seconds * 1000;
  let started = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = 0; Date.now() < deadline; i++) {
        await probe.write(`w${w}-${i}`, 100);
        bareWrites++;
      }
    }),
  );
  const phase0 = (Date.now() - started) / 1000;

  // Phase 1: single reserve + commit round trips (2 RPC operations each), `concurrency` callers.
  let roundTrips = 0;
  deadline = Date.now() + seconds * 1000;
  started = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = 0; Date.now() < deadline; i++) {
        const id = `w${w}-${i}`;
        const r = await stub.reserve({ opId: `r-${id}`, holdId: `h-${id}`, amount: 100, expiresAt, actor: "bench" });
        const m = await stub.commit({ holdId: `h-${id}`, items: [{ id: `d-${id}`, amount: 100 }], actor: "bench" });
        if (!r.ok || !m.ok) throw new Error("bench operation refused");
        roundTrips++;
      }
    }),
  );
  const phase1 = (Date.now() - started) / 1000;

  // Phase 2: commits of `itemsPerCommit` items against one large hold, each item for its own
  // recipient (as in a batch, where recipients are unique).
  const hold = await stub.reserve({ opId: "big", holdId: "big", amount: 2 ** 50, expiresAt, actor: "bench" });
  if (!hold.ok) throw new Error("bench hold refused");
  let items = 0;
  let calls = 0;
  deadline = Date.now() + seconds * 1000;
  started = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = 0; Date.now() < deadline; i++) {
        const batch = Array.from({ length: itemsPerCommit }, (_, k) => ({ id: `b${w}-${i}-${k}`, amount: 10, recipientKey: `r${w}-${i}-${k}` }));
        const m = await stub.commit({ holdId: "big", items: batch, actor: "bench" });
        if (!m.ok) throw new Error("bench commit refused");
        items += m.items.length;
        calls++;
      }
    }),
  );
  const phase2 = (Date.now() - started) / 1000;
  const integrity = await stub.checkIntegrity();
  return c.json({
    round_trips: roundTrips,
    bare_write_rpcs_per_s: bareWrites / phase0,
    ops_per_s: (roundTrips * 2) / phase1,
    round_trips_per_s: roundTrips / phase1,
    commit_calls: calls,
    items,
    items_per_s: items / phase2,
    integrity_ok: integrity.ok,
  });
});
