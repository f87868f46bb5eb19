/**
 * Caps per customer and per campaign, per period (day, ISO week, month, or lifetime; UTC, by the
 * event's occurred_at). The check and the claim are one statement: the outcome row is inserted only
 * if the counted outcomes (rewarded or pending approval) of the period leave room, and D1 runs one
 * statement at a time, so concurrent events can never pass a cap together.
 */
import type { CapSpec, LimitsSpec } from "../campaigns/campaigns.service";

export interface Window {
  from: string;
  to: string;
}

export function periodWindow(period: CapSpec["period"], at: string): Window {
  const d = new Date(at);
  const y = d.getUTCFullYear(),
    m = d.getUTCMonth(),
    day = d.getUTCDate();
  let from: Date, to: Date;
  if (period === "lifetime") return { from: "", to: "9999" };
  if (period === "day") {
    from = new Date(Date.UTC(y, m, day));
    to = new Date(Date.UTC(y, m, day + 1));
  } else if (period === "week") {
    const back = (d.getUTCDay() + 6) % 7; // days since Monday
    from = new Date(Date.UTC(y, m, day - back));
    to = new Date(Date.UTC(y, m, day - back + 7));
  } else {
    from = new Date(Date.UTC(y, m, 1));
    to = new Date(Date.UTC(y, m + 1, 1));
  }
  return { from: from.toISOString(), to: to.toISOString() };
}

export interface OutcomeRow {
  id: string;
  org: string;
  campaignId: string;
  eventId: string;
  /** A referral campaign's side (src/events/referral.ts); null otherwise. */
  side?: "referee" | "referrer" | null;
  customerKey: string;
  outcome: "rewarded" | "pending_approval";
  amount: number;
  deliveryId: string;
  name: string | null;
  email: string | null;
  phone: string | null;
  externalId: string;
  approvalDay: string | null;
  occurredAt: string;
  createdAt: string;
}

const COUNTED = "outcome IN ('rewarded', 'pending_approval')";

/** The outcome row, inserted only within the caps (and only once: the id is fixed per event and campaign). */
export function insertWithinCaps(d1: D1Database, r: OutcomeRow, limits: LimitsSpec): D1PreparedStatement {
  const pc = limits.per_customer,
    pk = limits.per_campaign;
  const cw = pc ? periodWindow(pc.period, r.occurredAt) : { from: "", to: "" };
  const kw = pk ? periodWindow(pk.period, r.occurredAt) : { from: "", to: "" };
  return d1
    .prepare(
      `INSERT OR IGNORE INTO campaign_outcomes (id, org, campaign_id, event_id, customer_key, outcome, amount, delivery_id, committed,
       name, email, phone, external_id, approval_day, occurred_at, created_at, side)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?24
     WHERE (?16 IS NULL OR (SELECT COUNT(*) FROM campaign_outcomes WHERE campaign_id = ?3 AND customer_key = ?5 AND occurred_at >= ?20 AND occurred_at < ?21 AND ${COUNTED}) < ?16)
       AND (?17 IS NULL OR (SELECT COALESCE(SUM(amount), 0) FROM campaign_outcomes WHERE campaign_id = ?3 AND customer_key = ?5 AND occurred_at >= ?20 AND occurred_at < ?21 AND ${COUNTED}) + ?7 <= ?17)
       AND (?18 IS NULL OR (SELECT COUNT(*) FROM campaign_outcomes WHERE campaign_id = ?3 AND occurred_at >= ?22 AND occurred_at < ?23 AND ${COUNTED}) < ?18)
       AND (?19 IS NULL OR (SELECT COALESCE(SUM(amount), 0) FROM campaign_outcomes WHERE campaign_id = ?3 AND occurred_at >= ?22 AND occurred_at < ?23 AND ${COUNTED}) + ?7 <= ?19)`,
    )
    .bind(
      r.id,
      r.org,
      r.campaignId,
      r.eventId,
      r.customerKey,
      r.outcome,
      r.amount,
      r.deliveryId,
      r.name,
      r.email,
      r.phone,
      r.externalId,
      r.approvalDay,
      r.occurredAt,
      r.createdAt,
      pc?.count ?? null,
      pc?.amount ?? null,
      pk?.count ?? null,
      pk?.amount ?? null,
      cw.from,
      cw.to,
      kw.from,
      kw.to,
      r.side ?? null,
    );
}

/** After a refused insert: was it the customer's cap (else the campaign's)? */
export async function customerCapReached(d1: D1Database, r: OutcomeRow, limits: LimitsSpec): Promise<boolean> {
  const pc = limits.per_customer;
  if (!pc) return false;
  const w = periodWindow(pc.period, r.occurredAt);
  const row = await d1
    .prepare(
      `SELECT COUNT(*) AS n, COALESCE(SUM(amount), 0) AS total FROM campaign_outcomes
     WHERE campaign_id = ?1 AND customer_key = ?2 AND occurred_at >= ?3 AND occurred_at < ?4 AND ${COUNTED}`,
    )
    .bind(r.campaignId, r.customerKey, w.from, w.to)
    .first<{ n: number; total: number }>();
  return (pc.count !== undefined && row!.n >= pc.count) || (pc.amount !== undefined && row!.total + r.amount > pc.amount);
}
