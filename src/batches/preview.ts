/**
 * The preview approvers and operators read before submitting: counts by status and reason,
 * totals by currency, the amount distribution, anomalies, and whether the pool covers the valid
 * total. Everything but the pool balance is derived from the rows and cached on the batch per
 * content version; the balance is read live from the pool's Durable Object.
 */
import { findPool, poolBalance } from "../pools/pools.service";
import type { Env } from "../env";
import { getSettings } from "../settings/settings.service";
import type { BatchRow, BatchStatus } from "./batch-state";
import { requireBatch } from "./batches.service";
import type { Reason } from "./recipients.validate";
import { amountStats, detectAnomalies, type Anomaly, type AmountStats } from "./preview.stats";

export interface PreviewBody {
  content_version: number;
  counts: { total: number; valid: number; invalid: number; excluded: number };
  reasons: { status: "invalid" | "excluded"; reason: Reason; count: number }[];
  totals: { currency: string; valid_count: number; valid_amount: number; rows: number; requested_amount: number }[];
  amounts: AmountStats | null;
  anomalies: Anomaly[];
}

async function computePreview(env: Env, batch: BatchRow): Promise<PreviewBody> {
  const d1 = env.DB;
  const [reasons, totals, histogram] = await d1.batch<Record<string, number | string>>([
    d1
      .prepare(
        `SELECT r.status, j.value AS reason, count(*) AS count FROM batch_recipients r, json_each(r.reasons) j
         WHERE r.batch_id = ? AND r.status IN ('invalid', 'excluded') GROUP BY r.status, j.value ORDER BY count DESC, reason`,
      )
      .bind(batch.id),
    d1
      .prepare(
        `SELECT currency, count(*) AS rows, sum(CASE WHEN status = 'valid' THEN 1 ELSE 0 END) AS valid_count,
           coalesce(sum(CASE WHEN status = 'valid' THEN amount END), 0) AS valid_amount, coalesce(sum(CASE WHEN amount > 0 THEN amount END), 0) AS requested_amount
         FROM batch_recipients WHERE batch_id = ? GROUP BY currency ORDER BY valid_amount DESC`,
      )
      .bind(batch.id),
    d1.prepare("SELECT amount, count(*) AS n FROM batch_recipients WHERE batch_id = ? AND status = 'valid' GROUP BY amount ORDER BY amount").bind(batch.id),
  ]);
  const settings = await getSettings(d1, batch.org);
  const amounts = amountStats((histogram!.results as { amount: number; n: number }[]).map((h) => [h.amount, h.n]));
  return {
    content_version: batch.contentVersion,
    counts: { total: batch.rowsTotal, valid: batch.validCount, invalid: batch.invalidCount, excluded: batch.excludedCount },
    reasons: reasons!.results as PreviewBody["reasons"],
    totals: totals!.results as PreviewBody["totals"],
    amounts,
    anomalies: await detectAnomalies(d1, batch, amounts, settings.expected_count_tolerance_pct),
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

export async function batchPreview(env: Env, org: string, batchId: string) {
  const batch = await requireBatch(env.DB, org, batchId);
  const body = await cachedPreview(env, batch);
  const pool = await findPool(env.DB, org, batch.poolId);
  const balance = pool ? await poolBalance(env, pool) : null;
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
  };
}
