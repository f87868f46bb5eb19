/**
 * The content hash approvals are bound to: the batch's metadata and counts (its "fingerprint",
 * cheap to recompute) chained with a digest of every recipient row. Submission records it;
 * a decision recomputes it and refuses when it differs, so what approvers saw is what pays out.
 */
import { canonicalJson, sha256Hex } from "../core/crypto";
import type { BatchRow } from "../batches/batch-state";
import { batchRef } from "../db/batch-ref";

const PAGE_ROWS = 5000;

/** Hash of the metadata and counts an approver sees; the approval page compares it on every view. */
export function batchFingerprint(b: BatchRow): Promise<string> {
  return sha256Hex(
    canonicalJson({
      id: b.id,
      org: b.org,
      name: b.name,
      campaign: b.campaign,
      business_owner: b.businessOwner,
      cost_center: b.costCenter,
      expected_delivery_date: b.expectedDeliveryDate,
      expected_count: b.expectedCount,
      pool_id: b.poolId,
      product_id: b.productId,
      channel: b.channel,
      currency: b.currency,
      release_at: b.releaseAt,
      created_by: b.createdBy,
      content_version: b.contentVersion,
      counts: [b.rowsTotal, b.validCount, b.invalidCount, b.excludedCount],
      valid_total: b.validTotal,
    }),
  );
}

/** Chained SHA-256 over the recipient rows in row order, read a page at a time (never all in memory). */
export async function recipientsDigest(d1: D1Database, batchId: string): Promise<string> {
  let digest = await sha256Hex(`recipients:${batchId}`);
  for (let after = 0; ; ) {
    const { results } = await d1
      .prepare(
        `SELECT row_no, external_id, name, email, phone, country, amount, currency, fields, status, reasons
         FROM batch_recipients WHERE batch_ref = ${batchRef("?1")} AND row_no > ?2 ORDER BY row_no LIMIT ?3`,
      )
      .bind(batchId, after, PAGE_ROWS)
      .all<{ row_no: number }>();
    if (results.length === 0) return digest;
    digest = await sha256Hex(`${digest}\n${await sha256Hex(JSON.stringify(results))}`);
    after = results.at(-1)!.row_no;
  }
}

export async function contentHash(d1: D1Database, batch: BatchRow): Promise<{ fingerprint: string; hash: string }> {
  const fingerprint = await batchFingerprint(batch);
  const hash = await sha256Hex(`${fingerprint}\n${await recipientsDigest(d1, batch.id)}`);
  return { fingerprint, hash };
}
