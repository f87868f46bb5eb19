/**
 * The preview approvers and operators read before submitting: counts by status and reason,
 * totals by currency, the amount distribution, anomalies, and whether the pool covers the valid
 * total. It is built from the aggregates each upload stored (upload-stats.ts) plus a few targeted
 * queries, cached on the batch per content version; the pool balance is read live from its DO, and
 * for an inventory product the codes available now, amount by amount.
 */
import { findProduct } from "../catalog/products.service";
import type { Env } from "../env";
import { poolBalance } from "../pools/pool-client";
import { findPool } from "../pools/pools.service";
import { getSettings } from "../settings/settings.service";
import type { BatchRow, BatchStatus } from "./batch-state";
import { requireBatch } from "./batches.service";
import { amountStats, detectAnomalies, type AmountStats, type Anomaly } from "./preview.stats";
import type { Reason } from "./recipients.validate";
import { mergeStats, type UploadStats } from "./upload-stats";

export interface PreviewBody {
  content_version: number;
  counts: { total: number; valid: number; invalid: number; excluded: number };
  reasons: { status: "invalid" | "excluded"; reason: Reason; count: number }[];
  totals: { currency: string; valid_count: number; valid_amount: number; rows: number; requested_amount: number }[];
  amounts: AmountStats | null;
  anomalies: Anomaly[];
}

async function batchStats(d1: D1Database, batchId: string): Promise<UploadStats> {
  const { results } = await d1.prepare("SELECT stats FROM batch_uploads WHERE batch_id = ? AND stats IS NOT NULL").bind(batchId).all<{ stats: string }>();
  return mergeStats(results.map((r) => JSON.parse(r.stats) as UploadStats));
}

async function computePreview(env: Env, batch: BatchRow): Promise<PreviewBody> {
  const [stats, settings] = await Promise.all([batchStats(env.DB, batch.id), getSettings(env.DB, batch.org)]);
  const reasons = Object.entries(stats.reasons)
    .map(([key, count]) => {
      const [status, reason] = key.split(":") as ["invalid" | "excluded", Reason];
      return { status, reason, count };
    })
    .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  const totals = Object.entries(stats.currencies)
    .map(([currency, t]) => ({ currency, ...t }))
    .sort((a, b) => b.valid_amount - a.valid_amount || b.rows - a.rows);
  const amounts = amountStats(stats.amounts);
  return {
    content_version: batch.contentVersion,
    counts: { total: batch.rowsTotal, valid: batch.validCount, invalid: batch.invalidCount, excluded: batch.excludedCount },
    reasons,
    totals,
    amounts,
    anomalies: await detectAnomalies(env.DB, batch, stats, amounts, settings.expected_count_tolerance_pct),
  };
}

async function cachedPreview(env: Env, batch: BatchRow): Promise<PreviewBody> {
  if (batch.preview && batch.previewVersion === batch.contentVersion) return JSON.parse(batch.preview) as PreviewBody;
  const body = await computePreview(env, batch);
  // Only cache what still describes the rows: an upload that committed meanwhile bumped the version.
  await env.DB.prepare("UPDATE batches SET preview = ?1, preview_version = ?2 WHERE id = ?3 AND content_version = ?2")
    .bind(JSON.stringify(body), batch.contentVersion, batch.id)
    .run();
  return body;
}

/** Amounts listed in `inventory.by_amount` at most (those short first). */
const INVENTORY_AMOUNTS_SHOWN = 100;

/**
 * Whether the product's available codes cover the batch's valid rows, amount by amount. Codes are
 * assigned at delivery, so this is a reading of now: another batch delivering first may take some,
 * and codes uploaded later still count (a delivery that finds none waits as an exception).
 */
async function inventoryCoverage(d1: D1Database, batch: BatchRow) {
  const product = await findProduct(d1, batch.org, batch.productId);
  if (product?.kind !== "inventory") return null;
  const [stats, { results }] = await Promise.all([
    batchStats(d1, batch.id),
    d1
      .prepare("SELECT amount, COUNT(*) AS n FROM inventory_codes WHERE product_id = ? AND status = 'available' GROUP BY amount")
      .bind(product.id)
      .all<{ amount: number; n: number }>(),
  ]);
  const stock = new Map(results.map((r) => [r.amount, r.n]));
  const byAmount = stats.amounts.map(([amount, needed]) => {
    const available = stock.get(amount) ?? 0;
    return { amount, needed, available, short: Math.max(0, needed - available) };
  });
  const shortfall = byAmount.reduce((s, a) => s + a.short, 0);
  return {
    product_id: product.id,
    needed: batch.validCount,
    available: byAmount.reduce((s, a) => s + Math.min(a.needed, a.available), 0),
    covers_valid_rows: shortfall === 0,
    shortfall,
    by_amount: byAmount.sort((a, b) => b.short - a.short || a.amount - b.amount).slice(0, INVENTORY_AMOUNTS_SHOWN),
  };
}

export async function batchPreview(env: Env, org: string, batchId: string) {
  const batch = await requireBatch(env.DB, org, batchId);
  const body = await cachedPreview(env, batch);
  const [inventory, balance] = await Promise.all([
    inventoryCoverage(env.DB, batch),
    findPool(env.DB, org, batch.poolId).then((pool) => (pool ? poolBalance(env, pool) : null)),
  ]);
  const available = balance?.available ?? 0;
  return {
    batch_id: batch.id,
    status: batch.status as BatchStatus,
    ...body,
    pool: {
      pool_id: batch.poolId,
      currency: batch.currency,
      available,
      valid_total: batch.validTotal,
      covers_valid_total: available >= batch.validTotal,
      shortfall: Math.max(0, batch.validTotal - available),
    },
    inventory,
  };
}
