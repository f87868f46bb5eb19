/** Amount distribution and anomaly detection for the batch preview. */
import { batchRef } from "../db/batch-ref";
import type { BatchRow } from "./batch-state";

export interface AmountStats {
  count: number;
  min: number;
  max: number;
  mean: number;
  median: number;
  p25: number;
  p75: number;
  p90: number;
  buckets: { from: number; to: number; count: number }[];
}

export interface Anomaly {
  code: "expected_count_mismatch" | "amount_outliers" | "shared_email_domain" | "shared_phone_prefix" | "near_duplicate_emails";
  detail: string;
  [key: string]: unknown;
}

const BUCKETS = 10;

/** Quantile by nearest rank over a sorted histogram of [amount, count]. */
function quantile(histogram: [number, number][], total: number, q: number): number {
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const [amount, n] of histogram) {
    seen += n;
    if (seen >= rank) return amount;
  }
  return histogram.at(-1)![0];
}

import type { UploadStats } from "./upload-stats";

/** Stats of valid amounts from their histogram (sorted by amount); null when there are none. */
export function amountStats(histogram: [number, number][]): AmountStats | null {
  const count = histogram.reduce((s, [, n]) => s + n, 0);
  if (count === 0) return null;
  const min = histogram[0]![0];
  const max = histogram.at(-1)![0];
  const sum = histogram.reduce((s, [a, n]) => s + a * n, 0);
  // Equal-width buckets; a batch of one amount gets one bucket.
  const width = Math.max(1, Math.ceil((max - min + 1) / BUCKETS));
  const buckets: AmountStats["buckets"] = [];
  for (let from = min; from <= max; from += width) buckets.push({ from, to: Math.min(max, from + width - 1), count: 0 });
  for (const [a, n] of histogram) buckets[Math.min(buckets.length - 1, Math.floor((a - min) / width))]!.count += n;
  return {
    count,
    min,
    max,
    mean: Math.round(sum / count),
    median: quantile(histogram, count, 0.5),
    p25: quantile(histogram, count, 0.25),
    p75: quantile(histogram, count, 0.75),
    p90: quantile(histogram, count, 0.9),
    buckets,
  };
}

/** Fences beyond which an amount is an outlier: Tukey's far-out fences, never closer than ×2 / ÷2 of the median. */
export function outlierFences(s: AmountStats): { low: number; high: number } {
  const iqr = s.p75 - s.p25;
  return { low: Math.min(s.p25 - 3 * iqr, Math.floor(s.median / 2)), high: Math.max(s.p75 + 3 * iqr, s.median * 2) };
}

/** Big public mailbox providers: many recipients sharing them is normal, not a signal. */
const PUBLIC_DOMAINS = new Set([
  "gmail.com",
  "googlemail.com",
  "outlook.com",
  "hotmail.com",
  "live.com",
  "msn.com",
  "yahoo.com",
  "icloud.com",
  "me.com",
  "aol.com",
  "proton.me",
  "protonmail.com",
  "gmx.com",
  "gmx.de",
  "web.de",
  "mail.com",
  "yandex.ru",
  "qq.com",
  "163.com",
]);
const SHARE_MIN_ROWS = 20;
const DOMAIN_SHARE = 0.2;
const PREFIX_SHARE = 0.1;

/** Exact count of valid rows in the candidate's domain or phone block (the summaries only estimate). */
async function exactCount(d1: D1Database, batchId: string, kind: "domain" | "prefix", key: string): Promise<number> {
  const sql =
    kind === "domain"
      ? `SELECT count(*) AS n FROM batch_recipients WHERE batch_ref = ${batchRef("?1")} AND status = 'valid' AND substr(email_key, instr(email_key, '@') + 1) = ?2`
      : `SELECT count(*) AS n FROM batch_recipients WHERE batch_ref = ${batchRef("?1")} AND status = 'valid' AND phone_key IS NOT NULL AND substr(phone_key, 1, length(phone_key) - 4) = ?2`;
  return (await d1.prepare(sql).bind(batchId, key).first<{ n: number }>())?.n ?? 0;
}

/**
 * The most common key whose estimated share could reach `share`. Misra–Gries undercounts by at
 * most 1% of each upload's rows (k = 100), so candidates within that margin are counted exactly.
 */
async function concentrated(d1: D1Database, batchId: string, kind: "domain" | "prefix", summary: [string, number][], valid: number, share: number) {
  const candidate = summary.find(([key]) => kind === "prefix" || !PUBLIC_DOMAINS.has(key));
  if (!candidate || candidate[1] + valid * 0.01 < Math.max(SHARE_MIN_ROWS, valid * share)) return null;
  const count = await exactCount(d1, batchId, kind, candidate[0]);
  return count >= SHARE_MIN_ROWS && count / valid >= share ? { key: candidate[0], count } : null;
}

/** Valid addresses equal once dots are removed from the local part: one inbox at some providers. */
export async function nearDuplicates(d1: D1Database, batchId: string) {
  const { results } = await d1
    .prepare(
      `WITH dotted AS (
         SELECT row_no, replace(substr(email_key, 1, instr(email_key, '@') - 1), '.', '') || substr(email_key, instr(email_key, '@')) AS k
         FROM batch_recipients WHERE batch_ref = ${batchRef("?1")} AND status = 'valid' AND instr(substr(email_key, 1, instr(email_key, '@') - 1), '.') > 0)
       SELECT k, count(*) AS count, group_concat(row_no) AS rows FROM (
         SELECT k, row_no FROM dotted
         UNION ALL SELECT d.k, r.row_no FROM dotted d JOIN batch_recipients r ON r.email_key = d.k AND r.batch_ref = ${batchRef("?1")} AND r.status = 'valid')
       GROUP BY k HAVING count(*) > 1 ORDER BY min(row_no) LIMIT 20`,
    )
    .bind(batchId)
    .all<{ k: string; count: number; rows: string }>();
  return results.map((n) => ({
    rows: n.rows
      .split(",")
      .map(Number)
      .sort((a, b) => a - b),
    count: n.count,
  }));
}

async function amountOutliers(d1: D1Database, batch: BatchRow, amounts: AmountStats, histogram: [number, number][]): Promise<Anomaly | null> {
  const { low, high } = outlierFences(amounts);
  const count = histogram.reduce((n, [a, c]) => (a > high || a < low ? n + c : n), 0);
  if (count === 0) return null;
  const { results } = await d1
    .prepare(
      `SELECT row_no AS row, amount FROM batch_recipients WHERE batch_ref = ${batchRef("?1")} AND status = 'valid' AND (amount > ?2 OR amount < ?3) ORDER BY row_no LIMIT 10`,
    )
    .bind(batch.id, high, low)
    .all<{ row: number; amount: number }>();
  return { code: "amount_outliers", detail: `${count} valid rows outside ${low}..${high}`, count, low, high, examples: results };
}

export async function detectAnomalies(
  d1: D1Database,
  batch: BatchRow,
  stats: UploadStats,
  amounts: AmountStats | null,
  tolerancePct: number,
): Promise<Anomaly[]> {
  const anomalies: Anomaly[] = [];
  const valid = batch.validCount;
  const diffPct = batch.expectedCount > 0 ? (Math.abs(valid - batch.expectedCount) / batch.expectedCount) * 100 : 0;
  if (diffPct > tolerancePct) {
    anomalies.push({
      code: "expected_count_mismatch",
      detail: `${valid} valid recipients; ${batch.expectedCount} expected (tolerance ${tolerancePct}%)`,
      expected: batch.expectedCount,
      actual: valid,
      tolerance_pct: tolerancePct,
    });
  }
  if (valid === 0 || !amounts) return anomalies;
  const outliers = await amountOutliers(d1, batch, amounts, stats.amounts);
  if (outliers) anomalies.push(outliers);
  const domain = await concentrated(d1, batch.id, "domain", stats.domains, valid, DOMAIN_SHARE);
  if (domain)
    anomalies.push({
      code: "shared_email_domain",
      detail: `${domain.count} of ${valid} valid recipients use @${domain.key}`,
      domain: domain.key,
      count: domain.count,
    });
  const prefix = await concentrated(d1, batch.id, "prefix", stats.prefixes, valid, PREFIX_SHARE);
  if (prefix)
    anomalies.push({
      code: "shared_phone_prefix",
      detail: `${prefix.count} of ${valid} valid recipients have phones starting ${prefix.key}`,
      prefix: prefix.key,
      count: prefix.count,
    });
  const near = stats.dotted === 0 ? [] : await nearDuplicates(d1, batch.id);
  if (near.length)
    anomalies.push({
      code: "near_duplicate_emails",
      detail: `${near.length}${near.length === 20 ? "+" : ""} groups of addresses that differ only by dots`,
      groups: near,
    });
  return anomalies;
}
