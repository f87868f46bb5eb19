/**
 * Batches phase, a page of the org's batches per step: each batch against its pool hold (the DO)
 * and its deliveries (D1). Finds value committed for a batch that was never approved, a settled
 * batch past submission with no hold, and holds still reserving value after their batch ended or
 * their expiry passed. (Committed value is compared item by item in the deliveries phase.)
 */
import type { HoldTotals } from "../../durable-objects/pool-reads";
import { holdsWithItems } from "../pools/ledger-reads";
import { batchHoldId } from "../pools/op-ids";
import { DELIVERY_PAGE } from "./check.deliveries";
import { addTotals, pageSize, type Finding, type StepContext, type StepResult } from "./types";

/** Batches per step, and fewer when their deliveries (aggregated here) would pass DELIVERY_PAGE. */
export const BATCH_PAGE = 200;
/** A hold the DO alarm should have expired this long ago counts as unreleased. */
export const HOLD_GRACE_MS = 15 * 60_000;
const PLANNED = new Set(["submitted", "approved", "releasing", "delivering", "completed", "completed_with_errors"]);
const NEEDS_HOLD = new Set(["submitted", "approved", "releasing", "delivering"]);
const ENDED = new Set(["completed", "completed_with_errors", "rejected", "cancelled", "expired"]);

interface BatchRow {
  id: string;
  status: string;
  pool_id: string;
  currency: string;
  valid_total: number;
  valid_count: number;
}
interface Sums {
  batch_id: string;
  n: number;
  committed: number;
  delivered: number;
  failed: number;
  reversed: number;
}

export async function batchesStep(ctx: StepContext): Promise<StepResult> {
  const after = (ctx.cursor as { after: string } | null)?.after ?? "";
  const { results: listed } = await ctx.env.DB.prepare(
    "SELECT id, status, pool_id, currency, valid_total, valid_count FROM batches WHERE org = ? AND id > ? ORDER BY id LIMIT ?",
  )
    .bind(ctx.org, after, pageSize(ctx, BATCH_PAGE))
    .all<BatchRow>();
  if (listed.length === 0) return { findings: [], cursor: null, rows: 0 };
  const batches = withinDeliveryBudget(listed, pageSize(ctx, DELIVERY_PAGE));
  const ids = JSON.stringify(batches.map((b) => b.id));
  const [approvedRows, sumRows] = await ctx.env.DB.batch<Record<string, unknown>>([
    ctx.env.DB.prepare(
      `SELECT batch_id FROM batch_transitions WHERE batch_id IN (SELECT value FROM json_each(?1)) AND to_status = 'approved'
       UNION SELECT batch_id FROM approval_flows WHERE batch_id IN (SELECT value FROM json_each(?1)) AND state IN ('approved', 'released')`,
    ).bind(ids),
    // Committed value counts each pool item once: a reissue keeps its original's item.
    ctx.env.DB.prepare(
      `SELECT batch_id, SUM(n) AS n, SUM(committed) AS committed, SUM(delivered) AS delivered, SUM(failed) AS failed, SUM(reversed) AS reversed FROM (
         SELECT batch_id, item, COUNT(*) AS n,
                MAX(CASE WHEN committed = 1 AND status NOT IN ('reversed', 'reissued') THEN amount ELSE 0 END) AS committed,
                SUM(CASE WHEN status = 'delivered' THEN amount ELSE 0 END) AS delivered,
                SUM(CASE WHEN status = 'failed' THEN amount ELSE 0 END) AS failed,
                SUM(CASE WHEN status = 'reversed' THEN amount ELSE 0 END) AS reversed
         FROM deliveries WHERE batch_id IN (SELECT value FROM json_each(?1)) GROUP BY batch_id, item)
       GROUP BY batch_id`,
    ).bind(ids),
  ]);
  const approved = new Set(approvedRows!.results.map((r) => String(r.batch_id)));
  const sums = new Map((sumRows!.results as unknown as Sums[]).map((s) => [s.batch_id, s]));
  const holds = await loadHolds(ctx, batches);

  const findings: Finding[] = [];
  let rows = batches.length;
  for (const b of batches) {
    const s = sums.get(b.id) ?? { batch_id: b.id, n: 0, committed: 0, delivered: 0, failed: 0, reversed: 0 };
    rows += s.n;
    addTotals(ctx.state, b.currency, { planned: PLANNED.has(b.status) ? b.valid_total : 0, delivered: s.delivered, failed: s.failed, reversed: s.reversed });
    findings.push(...checkBatch(ctx, b, s, holds.get(batchHoldId(b.id)) ?? null, approved.has(b.id)));
  }
  const last = batches.length === listed.length && listed.length < pageSize(ctx, BATCH_PAGE);
  return { findings, cursor: last ? null : { after: batches.at(-1)!.id }, rows };
}

/** The leading batches whose deliveries add up to at most `budget` (always at least one), so a step's aggregates stay bounded. */
function withinDeliveryBudget(batches: BatchRow[], budget: number): BatchRow[] {
  let sum = 0;
  const kept = batches.findIndex((b) => {
    sum += b.valid_count;
    return sum > budget;
  });
  return kept === -1 ? batches : batches.slice(0, Math.max(1, kept));
}

/** The page's holds, one DO call per pool. */
async function loadHolds(ctx: StepContext, batches: BatchRow[]): Promise<Map<string, HoldTotals>> {
  const byPool = new Map<string, string[]>();
  for (const b of batches) byPool.set(b.pool_id, [...(byPool.get(b.pool_id) ?? []), batchHoldId(b.id)]);
  const lists = await Promise.all([...byPool].map(([poolId, holdIds]) => holdsWithItems(ctx.env, poolId, holdIds)));
  return new Map(lists.flat().map((h) => [h.hold_id, h]));
}

function checkBatch(ctx: StepContext, b: BatchRow, s: Sums, hold: HoldTotals | null, approved: boolean): Finding[] {
  const out: Finding[] = [];
  const base = { batchId: b.id, poolId: b.pool_id, currency: b.currency };
  const doCommitted = hold?.items_committed ?? 0;
  const spent = Math.max(doCommitted, s.committed, s.delivered);
  if (spent > 0 && !approved) {
    out.push({
      ...base,
      kind: "spend_without_approval",
      entityType: "batch",
      entityId: b.id,
      expected: 0,
      actual: spent,
      detail: `Batch ${b.id} (${b.status}) has ${spent} ${b.currency} committed or delivered but no approval on record (no transition to approved, no approved flow)`,
      data: { batch_status: b.status, pool_committed: doCommitted, deliveries_committed: s.committed, delivered: s.delivered },
      facts: { spent },
    });
  }
  if (!hold && NEEDS_HOLD.has(b.status)) {
    out.push({
      ...base,
      kind: "ledger_drift",
      entityType: "batch",
      entityId: b.id,
      expected: b.valid_total,
      actual: 0,
      detail: `Batch ${b.id} is ${b.status} but its pool has no hold ${batchHoldId(b.id)} reserving its ${b.valid_total} ${b.currency}`,
      data: { check: "missing_hold", batch_status: b.status, hold_id: batchHoldId(b.id) },
      facts: { missing_hold: true, status: b.status },
    });
  }
  const overdue = hold && hold.expires_at < ctx.now.getTime() - HOLD_GRACE_MS;
  if (hold?.state === "pending" && hold.remaining > 0 && (ENDED.has(b.status) || overdue)) {
    out.push({
      ...base,
      kind: "expired_hold_unreleased",
      entityType: "hold",
      entityId: hold.hold_id,
      expected: 0,
      actual: hold.remaining,
      detail: ENDED.has(b.status)
        ? `Batch ${b.id} is ${b.status} but hold ${hold.hold_id} still reserves ${hold.remaining} ${b.currency}`
        : `Hold ${hold.hold_id} expired at ${new Date(hold.expires_at).toISOString()} but still reserves ${hold.remaining} ${b.currency}`,
      data: { batch_status: b.status, hold_amount: hold.amount, expires_at: new Date(hold.expires_at).toISOString() },
      facts: { remaining: hold.remaining, status: b.status },
    });
  }
  return out;
}
