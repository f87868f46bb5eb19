/**
 * Inventory phase, product by product: assigned codes in pages of CODE_PAGE (in index order
 * (amount, id)) against the delivery they were assigned to, then the product's idle stock.
 * `orphan_code`: assigned, but its delivery is missing, failed or holds another code. A failed
 * delivery whose own exception is still open is left to that exception (cancelling it frees the
 * code), so one problem is not reported twice.
 * `unused_inventory`: codes nobody can be sent — available while no batch of the product is in
 * progress, or left `pending` by an upload that never finished.
 */
import { pageSize, type Finding, type StepContext, type StepResult } from "./types";

export const CODE_PAGE = 10_000;
/** An upload's pending codes older than this belong to an upload that never finished. */
const STALE_PENDING_MS = 60 * 60_000;
const ACTIVE_BATCH = "('draft', 'validated', 'submitted', 'approved', 'releasing', 'delivering')";
const END: [number, string] = [Number.MAX_SAFE_INTEGER, "~"];

export interface InventoryCursor {
  productsAfter: string;
  product: { id: string; currency: string; after: [number, string] } | null;
}

interface Orphan {
  id: string;
  amount: number;
  delivery_id: string | null;
  delivery_status: string | null;
  batch_id: string | null;
  pool_id: string | null;
}

export async function inventoryStep(ctx: StepContext): Promise<StepResult> {
  const cursor = (ctx.cursor as InventoryCursor | null) ?? { productsAfter: "", product: null };
  const db = ctx.env.DB;
  if (!cursor.product) {
    const next = await db
      .prepare("SELECT id, currency FROM products WHERE org = ? AND kind = 'inventory' AND id > ? ORDER BY id LIMIT 1")
      .bind(ctx.org, cursor.productsAfter)
      .first<{ id: string; currency: string }>();
    if (!next) return { findings: [], cursor: null, rows: 0 };
    cursor.product = { id: next.id, currency: next.currency, after: [-1, ""] };
  }
  const p = cursor.product;
  const boundary = await db
    .prepare(
      "SELECT amount, id FROM inventory_codes WHERE product_id = ?1 AND status = 'assigned' AND (amount, id) > (?2, ?3) ORDER BY amount, id LIMIT 1 OFFSET ?4",
    )
    .bind(p.id, p.after[0], p.after[1], pageSize(ctx, CODE_PAGE) - 1)
    .first<{ amount: number; id: string }>();
  const last: [number, string] = boundary ? [boundary.amount, boundary.id] : END;
  const range = [p.id, p.after[0], p.after[1], last[0], last[1]];
  const IN_PAGE = "c.product_id = ?1 AND c.status = 'assigned' AND (c.amount, c.id) > (?2, ?3) AND (c.amount, c.id) <= (?4, ?5)";
  const [count, orphans] = await db.batch<Record<string, unknown>>([
    db.prepare(`SELECT COUNT(*) AS n FROM inventory_codes c WHERE ${IN_PAGE}`).bind(...range),
    db
      .prepare(
        `SELECT c.id, c.amount, c.delivery_id, d.status AS delivery_status, d.batch_id, d.pool_id
       FROM inventory_codes c LEFT JOIN deliveries d ON d.id = c.delivery_id
       WHERE ${IN_PAGE} AND (d.id IS NULL
         OR (d.status = 'failed' AND NOT EXISTS (SELECT 1 FROM exceptions e WHERE e.org = d.org AND e.entity_id = d.id AND e.status = 'open'))
         OR (d.code_id IS NOT NULL AND d.code_id <> c.id)
         OR (d.code_id IS NULL AND d.status NOT IN ('queued', 'sending', 'held')))`,
      )
      .bind(...range),
  ]);
  const findings = (orphans!.results as unknown as Orphan[]).map((o) => orphanFinding(o, p.currency));
  const rows = Number(count!.results[0]?.n ?? 0);
  if (boundary) return { findings, cursor: { ...cursor, product: { ...p, after: last } }, rows };
  const unused = await unusedFinding(ctx, p.id, p.currency);
  return { findings: unused ? [...findings, unused] : findings, cursor: { productsAfter: p.id, product: null }, rows };
}

function orphanFinding(o: Orphan, currency: string): Finding {
  const why = !o.delivery_id
    ? "no delivery"
    : !o.delivery_status
      ? `delivery ${o.delivery_id}, which does not exist`
      : `delivery ${o.delivery_id}, which is ${o.delivery_status} with another or no code`;
  return {
    kind: "orphan_code",
    entityType: "inventory_code",
    entityId: o.id,
    batchId: o.batch_id,
    poolId: o.pool_id,
    currency,
    expected: 0,
    actual: o.amount,
    detail: `Code ${o.id} (${o.amount} ${currency}) is assigned to ${o.delivery_status === "failed" ? `delivery ${o.delivery_id}, which failed` : why}; nobody received it`,
    data: { delivery_id: o.delivery_id, delivery_status: o.delivery_status },
    facts: { delivery: o.delivery_id, status: o.delivery_status },
  };
}

async function unusedFinding(ctx: StepContext, productId: string, currency: string): Promise<Finding | null> {
  const staleBefore = new Date(ctx.now.getTime() - STALE_PENDING_MS).toISOString();
  const [active, idle] = await ctx.env.DB.batch<Record<string, number>>([
    ctx.env.DB.prepare(`SELECT COUNT(*) AS n FROM batches WHERE org = ? AND product_id = ? AND status IN ${ACTIVE_BATCH}`).bind(ctx.org, productId),
    ctx.env.DB.prepare(
      `SELECT COALESCE(SUM(status = 'available'), 0) AS available, COALESCE(SUM(CASE WHEN status = 'available' THEN amount END), 0) AS available_total,
              COALESCE(SUM(status = 'pending'), 0) AS pending, COALESCE(SUM(CASE WHEN status = 'pending' THEN amount END), 0) AS pending_total
       FROM inventory_codes WHERE product_id = ?1 AND (status = 'available' OR (status = 'pending' AND created_at < ?2))`,
    ).bind(productId, staleBefore),
  ]);
  const activeBatches = Number(active!.results[0]?.n ?? 0);
  const s = idle!.results[0]!;
  // Stock waiting for a batch in progress is not idle; codes an unfinished upload left pending always are.
  const codes = s.pending! + (activeBatches > 0 ? 0 : s.available!);
  const total = s.pending_total! + (activeBatches > 0 ? 0 : s.available_total!);
  if (codes === 0) return null;
  return {
    kind: "unused_inventory",
    entityType: "product",
    entityId: productId,
    currency,
    expected: 0,
    actual: total,
    detail:
      activeBatches > 0
        ? `${s.pending} codes (${s.pending_total} ${currency}) were left pending by an upload that never finished`
        : `${codes} codes worth ${total} ${currency} sit unused and no batch of this product is in progress${s.pending ? ` (${s.pending} left pending by an unfinished upload)` : ""}`,
    data: { codes, available: activeBatches > 0 ? 0 : s.available, pending_stale: s.pending, active_batches: activeBatches },
    facts: { codes, total, active: activeBatches > 0 },
  };
}
