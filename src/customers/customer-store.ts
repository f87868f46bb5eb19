/**
 * The one writer of `customers` and `customer_dates`. A profile and its date index are written in
 * one D1 batch, so a birthday run never sees a profile without its month-day row or the reverse.
 *
 * Two ways in:
 * - `replace` (PUT, import): the profile as given; fields left out become empty, `attributes` is
 *   replaced as a whole (what a CRM sync expects: its record is the truth).
 * - `touch` (an event's `customer`): fields given update the profile, attributes merge key by key,
 *   and `last_seen_at` moves forward only (events can arrive out of order).
 */
import { readCustomer } from "../events/customer";
import type { Env } from "../env";

export interface CustomerProfile {
  external_id: string;
  email?: string | null;
  phone?: string | null;
  name?: string | null;
  country?: string | null;
  time_zone?: string | null;
  attributes?: Record<string, unknown>;
}

export interface CustomerRow {
  org: string;
  external_id: string;
  identity_key: string;
  email: string | null;
  phone: string | null;
  name: string | null;
  country: string | null;
  time_zone: string | null;
  attributes: string;
  last_seen_at: string | null;
  created_at: string;
  updated_at: string;
}

/** `YYYY-MM-DD` (optionally with a time) or `--MM-DD` (a month-day without a year, RFC 6350 style). */
const DATE_VALUE = /^(?:(\d{4})-|--)(\d{2})-(\d{2})(?:$|T)/;

/** The month-day (`MM-DD`) of a date attribute's value, or null when the value is not a date. */
export function monthDayOf(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const m = DATE_VALUE.exec(value);
  if (!m) return null;
  const month = Number(m[2]);
  const day = Number(m[3]);
  const daysIn = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  if (!daysIn || day < 1 || day > daysIn) return null;
  if (m[1] && month === 2 && day === 29) {
    const y = Number(m[1]);
    if (!(y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0))) return null;
  }
  return `${m[2]}-${m[3]}`;
}

/** The date index rows of a profile's attributes: one per attribute whose value is a date. */
export function dateRows(attributes: Record<string, unknown>): { attribute: string; monthDay: string; value: string }[] {
  const rows: { attribute: string; monthDay: string; value: string }[] = [];
  for (const [attribute, value] of Object.entries(attributes)) {
    const monthDay = monthDayOf(value);
    if (monthDay) rows.push({ attribute, monthDay, value: value as string });
  }
  return rows;
}

/**
 * The date rows to delete and insert when a profile's attributes go from `before` to `after` (only
 * the keys in `after` are looked at; a null value removes the key). Rows are deleted by their whole
 * primary key (the old value's month-day), so a write never scans an attribute's other customers.
 */
function dateStatements(
  env: Env,
  org: string,
  externalId: string,
  before: Record<string, unknown> | null,
  after: Record<string, unknown>,
): D1PreparedStatement[] {
  const del = env.DB.prepare("DELETE FROM customer_dates WHERE org = ?1 AND attribute = ?2 AND month_day = ?3 AND external_id = ?4");
  const ins = env.DB.prepare("INSERT OR REPLACE INTO customer_dates (org, attribute, month_day, external_id, value) VALUES (?1, ?2, ?3, ?4, ?5)");
  const out: D1PreparedStatement[] = [];
  for (const [attribute, value] of Object.entries(after)) {
    const old = before?.[attribute];
    if (old === value) continue;
    const oldDay = monthDayOf(old);
    const newDay = monthDayOf(value);
    if (oldDay && oldDay !== newDay) out.push(del.bind(org, attribute, oldDay, externalId));
    if (newDay) out.push(ins.bind(org, attribute, newDay, externalId, value as string));
  }
  return out;
}

/** The statements that delete a profile's date rows (erasure). */
export function deleteDateStatements(env: Env, org: string, externalId: string, attributes: Record<string, unknown>): D1PreparedStatement[] {
  return dateStatements(env, org, externalId, attributes, Object.fromEntries(Object.keys(attributes).map((k) => [k, null])));
}

/**
 * The statements that write a profile (PUT / import: the given profile replaces the stored one).
 * Date rows of attributes the new profile no longer has are deleted with the old attributes' keys.
 */
export function replaceStatements(env: Env, org: string, p: CustomerProfile, previous: Record<string, unknown> | null, now: string): D1PreparedStatement[] {
  const identity = readCustomer({
    external_id: p.external_id,
    email: p.email ?? undefined,
    phone: p.phone ?? undefined,
    country: p.country ?? undefined,
  });
  const attributes = p.attributes ?? {};
  const upsert = env.DB.prepare(
    `INSERT INTO customers (org, external_id, identity_key, email, phone, name, country, time_zone, attributes, created_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
     ON CONFLICT (org, external_id) DO UPDATE SET identity_key = excluded.identity_key, email = excluded.email,
       phone = excluded.phone, name = excluded.name, country = excluded.country, time_zone = excluded.time_zone,
       attributes = excluded.attributes, updated_at = excluded.updated_at`,
  ).bind(
    org,
    p.external_id,
    identity.key,
    identity.email,
    identity.phone,
    p.name ?? null,
    p.country ?? null,
    p.time_zone ?? null,
    JSON.stringify(attributes),
    now,
  );
  return [
    upsert,
    ...dateStatements(env, org, p.external_id, previous, { ...Object.fromEntries(Object.keys(previous ?? {}).map((k) => [k, null])), ...attributes }),
  ];
}

/** One profile's touch, as `touchStatement` writes it (the fields of `CustomerProfile` and what the touch derives). */
export type Touch = Pick<CustomerRow, "external_id" | "identity_key" | "email" | "phone" | "name" | "country" | "time_zone"> & {
  /** The attributes after the merge (the caller read the stored ones). */
  attributes: string;
  seen_at: string;
};

/**
 * An event's `customer` as a touch: given fields update, attributes merge (a key set to null is
 * removed) over `stored`, the attributes the caller read. Also the date rows that follow the merge.
 */
export function touchOf(env: Env, org: string, p: CustomerProfile, stored: Record<string, unknown> | null, seenAt: string) {
  const merged: Record<string, unknown> = { ...(stored ?? {}) };
  for (const [k, v] of Object.entries(p.attributes ?? {})) {
    if (v === null) delete merged[k];
    else merged[k] = v;
  }
  const identity = readCustomer({
    external_id: p.external_id,
    email: p.email ?? undefined,
    phone: p.phone ?? undefined,
    country: p.country ?? undefined,
  });
  const touch: Touch = {
    external_id: p.external_id,
    identity_key: identity.key,
    email: identity.email,
    phone: identity.phone,
    name: p.name ?? null,
    country: p.country ?? null,
    time_zone: p.time_zone ?? null,
    attributes: JSON.stringify(merged),
    seen_at: seenAt,
  };
  const changedKeys = Object.fromEntries(Object.keys(p.attributes ?? {}).map((k) => [k, merged[k] ?? null]));
  return { touch, dates: dateStatements(env, org, p.external_id, stored, changedKeys) };
}

/** Whether the touch's event is older than the profile's last one (it arrived late): SQL over the upsert's row and `excluded`. */
const LATE = "excluded.last_seen_at < customers.last_seen_at";
/** A field of a touch: set when given; from a late event, only where the profile has none. */
const field = (f: string) => `${f} = CASE WHEN ${LATE} THEN coalesce(customers.${f}, excluded.${f}) ELSE coalesce(excluded.${f}, customers.${f}) END`;

/**
 * Touches of many profiles in one statement (`INSERT … SELECT FROM json_each … ON CONFLICT DO
 * UPDATE`), applied in order: a profile touched twice gets both, the second over the first.
 * `last_seen_at` only moves forward. A touch whose event is older than the profile's `last_seen_at`
 * as it stands when the row is written only fills gaps: fields the profile lacks, attribute keys it
 * does not have (the caller filters late touches it can see in what it read, `lateTouch` in
 * profile-changes.ts; this catches one that became late since, under a concurrent newer event).
 * The identity key follows the contact a late touch fills in only where the profile had no email
 * (an email it fills, or a phone where it had neither): the key is the email's when there is one.
 */
export function touchStatement(env: Env, org: string, touches: Touch[], now: string): D1PreparedStatement {
  return env.DB.prepare(
    `INSERT INTO customers (org, external_id, identity_key, email, phone, name, country, time_zone, attributes, last_seen_at, created_at, updated_at)
     SELECT ?1, value ->> 'external_id', value ->> 'identity_key', value ->> 'email', value ->> 'phone', value ->> 'name', value ->> 'country',
       value ->> 'time_zone', value ->> 'attributes', value ->> 'seen_at', ?2, ?2
     FROM json_each(?3) WHERE true
     ON CONFLICT (org, external_id) DO UPDATE SET
       ${field("email")}, ${field("phone")}, ${field("name")}, ${field("country")}, ${field("time_zone")},
       attributes = CASE WHEN ${LATE} THEN json_patch(excluded.attributes, customers.attributes) ELSE excluded.attributes END,
       identity_key = CASE
         WHEN ${LATE} THEN CASE WHEN customers.email IS NULL AND (excluded.email IS NOT NULL OR (customers.phone IS NULL AND excluded.phone IS NOT NULL))
           THEN excluded.identity_key ELSE customers.identity_key END
         WHEN excluded.email IS NOT NULL OR excluded.phone IS NOT NULL THEN excluded.identity_key ELSE customers.identity_key END,
       last_seen_at = max(coalesce(customers.last_seen_at, ''), excluded.last_seen_at), updated_at = excluded.updated_at`,
  ).bind(org, now, JSON.stringify(touches));
}

/**
 * The statements that an event's `customer` applies to one profile (`touchOf`, `touchStatement`):
 * given fields update, attributes merge, `last_seen_at` only moves forward, and the date index
 * follows the merged attributes. Many profiles: `touchOf` each and one `touchStatement`.
 */
export function touchStatements(
  env: Env,
  org: string,
  p: CustomerProfile,
  stored: Record<string, unknown> | null,
  seenAt: string,
  now: string,
): D1PreparedStatement[] {
  const { touch, dates } = touchOf(env, org, p, stored, seenAt);
  return [touchStatement(env, org, [touch], now), ...dates];
}

export async function readCustomerRow(env: Env, org: string, externalId: string): Promise<CustomerRow | null> {
  return env.DB.prepare("SELECT * FROM customers WHERE org = ?1 AND external_id = ?2").bind(org, externalId).first<CustomerRow>();
}

export function attributesOf(row: CustomerRow | null): Record<string, unknown> | null {
  return row ? (JSON.parse(row.attributes) as Record<string, unknown>) : null;
}

/**
 * The customer as segment conditions see it (`customer.<field>` in CEL): missing text is "", so a
 * condition like `customer.country == "US"` is false rather than an error for a profile without one.
 */
export function customerView(row: Pick<CustomerRow, "external_id" | "email" | "phone" | "name" | "country" | "time_zone" | "attributes" | "last_seen_at">) {
  return {
    external_id: row.external_id,
    email: row.email ?? "",
    phone: row.phone ?? "",
    name: row.name ?? "",
    country: row.country ?? "",
    time_zone: row.time_zone ?? "",
    attributes: JSON.parse(row.attributes) as Record<string, unknown>,
    last_seen_at: row.last_seen_at ?? "",
  };
}
