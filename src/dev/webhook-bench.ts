/**
 * Benchmark-only route (answers 404 unless ENVIRONMENT is "bench"): writes `count` webhook events of
 * an org through the real outbox statement (the one appendAudit adds to a state change's batch) in
 * one transaction, then kicks the fan-out like appendAudit does after its commit. `npm run bench --
 * webhooks` calls it through the benchmarks' Worker entry (bench-worker.ts) to produce 100,000
 * events without paying for 100,000 state changes; it reports the rows the outbox insert wrote.
 */
import { Hono } from "hono";
import { AppError } from "../core/errors";
import type { AppEnv } from "../env";
import { kickDispatch, outboxRows, outboxStatement } from "../webhooks/outbox";

interface BenchRequest {
  org: string;
  /** Entity ids are `${prefix}${i}` for i in [from, from + count). */
  prefix: string;
  from: number;
  count: number;
}

export const webhookBench = new Hono<AppEnv>().post("/dev/bench/webhook-events", async (c) => {
  if (c.env.ENVIRONMENT !== "bench") throw new AppError("not_found", "No such route");
  const { org, prefix, from, count } = await c.req.json<BenchRequest>();
  const events = Array.from({ length: count }, (_, i) => ({
    actor: "bench",
    action: "delivery.delivered",
    entityType: "delivery",
    entityId: `${prefix}${from + i}`,
    after: { status: "delivered", batch_id: "bat_bench", amount: 500, currency: "USD" },
  }));
  const res = await outboxStatement(c.env.DB, org, outboxRows(events, new Date().toISOString()))!.run();
  await kickDispatch(org);
  return c.json({ events: res.meta.changes, rows_written: res.meta.rows_written });
});
