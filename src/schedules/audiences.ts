/**
 * One page of a run's audience, read through an index and never by scanning customers:
 * - date: `customer_dates` by its key (org, attribute, month_day, external_id), then each profile by key;
 * - inactivity: `customers_last_seen` over the run's [from, to) range of last_seen_at;
 * - schedule: `segment_members` by key (org, segment_id, external_id), inside only, then each profile.
 * Each page reports the D1 rows it read, so a run can show what its audience cost.
 */
export interface Profile {
  external_id: string;
  email: string | null;
  phone: string | null;
  name: string | null;
  country: string | null;
  time_zone: string | null;
  attributes: string;
  last_seen_at: string | null;
}

export interface Page {
  profiles: Profile[];
  /** Where the next page starts; null when this was the last page. */
  cursor: string | null;
  rowsRead: number;
}

export const PAGE_SIZE = 50;
const PROFILE = "c.external_id, c.email, c.phone, c.name, c.country, c.time_zone, c.attributes, c.last_seen_at";

export interface DateParams {
  attribute: string;
  date: string;
  month_days: string[];
}
export interface InactivityParams {
  days: number;
  from: string;
  to: string;
}
export interface ScheduleParams {
  segment_id: string;
}

/** Date runs page through each month-day in turn; the cursor is `<month-day index>|<last external id>`. */
export async function datePage(d1: D1Database, org: string, p: DateParams, cursor: string | null, limit = PAGE_SIZE): Promise<Page> {
  const [idx, after] = cursor ? [Number(cursor.slice(0, cursor.indexOf("|"))), cursor.slice(cursor.indexOf("|") + 1)] : [0, ""];
  const r = await d1
    .prepare(
      `SELECT ${PROFILE} FROM customer_dates d JOIN customers c ON c.org = d.org AND c.external_id = d.external_id
       WHERE d.org = ?1 AND d.attribute = ?2 AND d.month_day = ?3 AND d.external_id > ?4 ORDER BY d.external_id LIMIT ?5`,
    )
    .bind(org, p.attribute, p.month_days[idx], after, limit)
    .all<Profile>();
  const rowsRead = r.meta.rows_read ?? 0;
  if (r.results.length === limit) return { profiles: r.results, cursor: `${idx}|${r.results.at(-1)!.external_id}`, rowsRead };
  return { profiles: r.results, cursor: idx + 1 < p.month_days.length ? `${idx + 1}|` : null, rowsRead };
}

/** Inactivity runs page by (last_seen_at, external_id); the cursor is the last pair, JSON. */
export async function inactivityPage(d1: D1Database, org: string, p: InactivityParams, cursor: string | null, limit = PAGE_SIZE): Promise<Page> {
  const [seen, after] = cursor ? (JSON.parse(cursor) as [string, string]) : [p.from, ""];
  const r = await d1
    .prepare(
      `SELECT ${PROFILE} FROM customers c WHERE c.org = ?1 AND c.last_seen_at >= ?2 AND c.last_seen_at < ?3 AND (c.last_seen_at, c.external_id) > (?4, ?5)
       ORDER BY c.last_seen_at, c.external_id LIMIT ?6`,
    )
    .bind(org, p.from, p.to, seen, after, limit)
    .all<Profile>();
  const last = r.results.at(-1);
  return {
    profiles: r.results,
    cursor: r.results.length === limit && last ? JSON.stringify([last.last_seen_at, last.external_id]) : null,
    rowsRead: r.meta.rows_read ?? 0,
  };
}

/** Schedule runs page through the segment's members who are inside; the cursor is the last external id. */
export async function segmentPage(d1: D1Database, org: string, p: ScheduleParams, cursor: string | null, limit = PAGE_SIZE): Promise<Page> {
  const r = await d1
    .prepare(
      `SELECT ${PROFILE} FROM segment_members m JOIN customers c ON c.org = m.org AND c.external_id = m.external_id
       WHERE m.org = ?1 AND m.segment_id = ?2 AND m.external_id > ?3 AND m.inside = 1 ORDER BY m.external_id LIMIT ?4`,
    )
    .bind(org, p.segment_id, cursor ?? "", limit)
    .all<Profile>();
  const last = r.results.at(-1);
  return { profiles: r.results, cursor: r.results.length === limit && last ? last.external_id : null, rowsRead: r.meta.rows_read ?? 0 };
}

/** The profiles of a wait's customers (by key, driven from the id list: CROSS JOIN keeps json_each the outer loop, one row read per id plus one per profile). */
export async function profilesByIds(d1: D1Database, org: string, ids: string[]): Promise<{ profiles: Profile[]; rowsRead: number }> {
  const r = await d1
    .prepare(`SELECT ${PROFILE} FROM json_each(?2) j CROSS JOIN customers c ON c.org = ?1 AND c.external_id = j.value`)
    .bind(org, JSON.stringify(ids))
    .all<Profile>();
  return { profiles: r.results, rowsRead: r.meta.rows_read ?? 0 };
}
