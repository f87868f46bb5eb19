/**
 * SQL pieces the summary report shares. Times are ISO 8601 strings with milliseconds
 * (`2026-11-22T10:00:00.123Z`), so they turn into exact integer milliseconds without floating
 * point; percentiles use the nearest-rank method (the value at rank ceil(p × n)).
 */

/** Integer epoch milliseconds of an ISO timestamp column. */
export const ms = (col: string) => `(CAST(strftime('%s', ${col}) AS INTEGER) * 1000 + CAST(substr(${col}, 21, 3) AS INTEGER))`;

export type Period = "day" | "week" | "month";

/**
 * The period key of a timestamp: 2026-11-22, 2026-W49 (ISO 8601 week: Monday first, numbered in
 * the year its Thursday falls in, so 2027-01-01 is in 2026-W53) or 2026-11. The week is worked out
 * from that Thursday rather than with strftime's %V, which older SQLite builds lack.
 */
export function periodKey(col: string, period: Period): string {
  if (period === "day") return `substr(${col}, 1, 10)`;
  if (period === "month") return `substr(${col}, 1, 7)`;
  const thursday = `date(${col}, '-3 days', 'weekday 4')`;
  return `(strftime('%Y', ${thursday}) || '-W' || printf('%02d', (CAST(strftime('%j', ${thursday}) AS INTEGER) + 6) / 7))`;
}

/**
 * p50 and p95 of `v` per `grp`, over a subquery that yields columns (grp, v). Nearest rank:
 * ceil(n / 2) = (n + 1) / 2 and ceil(0.95 n) = (95 n + 99) / 100 in integer arithmetic.
 */
export function percentiles(sub: string): string {
  return `WITH v AS (${sub}),
    r AS (SELECT grp, v, ROW_NUMBER() OVER (PARTITION BY grp ORDER BY v) AS rn, COUNT(*) OVER (PARTITION BY grp) AS n FROM v)
    SELECT grp, MAX(n) AS n, MAX(CASE WHEN rn = (n + 1) / 2 THEN v END) AS p50, MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN v END) AS p95
    FROM r GROUP BY grp ORDER BY grp`;
}

export interface Window {
  from?: string;
  to?: string;
}

/** `col` within [from, to): absent bounds are open. Binds ?1 = org, ?2 = from, ?3 = to. */
export const inWindow = (col: string) => `(?2 IS NULL OR ${col} >= ?2) AND (?3 IS NULL OR ${col} < ?3)`;
