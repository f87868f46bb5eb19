/** Amount distribution and anomaly detection for the batch preview. */
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
    count, min, max, mean: Math.round(sum / count),
    median: quantile(histogram, count, 0.5), p25: quantile(histogram, count, 0.25), p75: quantile(histogram, count, 0.75), p90: quantile(histogram, count, 0.9),
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
  "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com", "icloud.com", "me.com",
  "aol.com", "proton.me", "protonmail.com", "gmx.com", "gmx.de", "web.de", "mail.com", "yandex.ru", "qq.com", "163.com",
]);
const SHARE_MIN_ROWS = 20;
const DOMAIN_SHARE = 0.2;
const PREFIX_SHARE = 0.1;

async function concentration(d1: D1Database, batch: BatchRow) {
  const [domains, prefixes, near] = await d1.batch<Record<string, string | number>>([
    d1.prepare(
      `SELECT substr(email_key, instr(email_key, '@') + 1) AS domain, count(*) AS count FROM batch_recipients
       WHERE batch_id = ? AND status = 'valid' AND email_key IS NOT NULL GROUP BY domain ORDER BY count DESC LIMIT 25`,
    ).bind(batch.id),
    d1.prepare(
      `SELECT substr(phone_key, 1, length(phone_key) - 4) AS prefix, count(*) AS count FROM batch_recipients
       WHERE batch_id = ? AND status = 'valid' AND phone_key IS NOT NULL GROUP BY prefix ORDER BY count DESC LIMIT 5`,
    ).bind(batch.id),
    // Addresses equal once dots are removed from the local part: distinct for us, one inbox at some providers.
    d1.prepare(
      `SELECT k, count(*) AS count, group_concat(row_no) AS rows FROM (
         SELECT replace(substr(email_key, 1, instr(email_key, '@') - 1), '.', '') || substr(email_key, instr(email_key, '@')) AS k, row_no
         FROM batch_recipients WHERE batch_id = ? AND status = 'valid' AND email_key IS NOT NULL)
       GROUP BY k HAVING count(*) > 1 ORDER BY count DESC LIMIT 20`,
    ).bind(batch.id),
  ]);
  return { domains: domains!.results, prefixes: prefixes!.results, near: near!.results };
}

export async function detectAnomalies(d1: D1Database, batch: BatchRow, amounts: AmountStats | null, tolerancePct: number): Promise<Anomaly[]> {
  const anomalies: Anomaly[] = [];
  const valid = batch.validCount;
  const diffPct = batch.expectedCount > 0 ? (Math.abs(valid - batch.expectedCount) / batch.expectedCount) * 100 : 0;
  if (diffPct > tolerancePct) {
    anomalies.push({ code: "expected_count_mismatch", detail: `${valid} valid recipients; ${batch.expectedCount} expected (tolerance ${tolerancePct}%)`, expected: batch.expectedCount, actual: valid, tolerance_pct: tolerancePct });
  }
  if (amounts) {
    const { low, high } = outlierFences(amounts);
    const { results } = await d1
      .prepare("SELECT row_no AS row, amount FROM batch_recipients WHERE batch_id = ?1 AND status = 'valid' AND (amount > ?2 OR amount < ?3) ORDER BY row_no LIMIT 1001")
      .bind(batch.id, high, low)
      .all<{ row: number; amount: number }>();
    if (results.length) {
      anomalies.push({ code: "amount_outliers", detail: `${results.length > 1000 ? "over 1000" : results.length} valid rows outside ${low}..${high}`, count: Math.min(results.length, 1000), low, high, examples: results.slice(0, 10) });
    }
  }
  if (valid === 0) return anomalies;
  const { domains, prefixes, near } = await concentration(d1, batch);
  const domain = domains.find((d) => !PUBLIC_DOMAINS.has(String(d.domain)));
  if (domain && Number(domain.count) >= SHARE_MIN_ROWS && Number(domain.count) / valid >= DOMAIN_SHARE) {
    anomalies.push({ code: "shared_email_domain", detail: `${domain.count} of ${valid} valid recipients use @${domain.domain}`, domain: domain.domain, count: domain.count });
  }
  const prefix = prefixes[0];
  if (prefix && Number(prefix.count) >= SHARE_MIN_ROWS && Number(prefix.count) / valid >= PREFIX_SHARE) {
    anomalies.push({ code: "shared_phone_prefix", detail: `${prefix.count} of ${valid} valid recipients have phones starting ${prefix.prefix}`, prefix: prefix.prefix, count: prefix.count });
  }
  if (near.length) {
    anomalies.push({ code: "near_duplicate_emails", detail: `${near.length}${near.length === 20 ? "+" : ""} groups of addresses that differ only by dots`, groups: near.map((n) => ({ rows: String(n.rows).split(",").map(Number), count: n.count })) });
  }
  return anomalies;
}
