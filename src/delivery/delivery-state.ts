/**
 * The delivery lifecycle (DESIGN.md "Delivery"). Every write of `deliveries.status` or
 * `deliveries.committed` is built here, checked against the table below and guarded in SQL by the
 * status the caller expects, so a racing writer changes nothing. The builders return prepared
 * statements; callers run them in the same D1 batch as the audit event that records the change
 * (`appendAudit(d1, org, events, [statement, ...])`).
 *
 * `committed` says the pool holds this delivery's value as committed. It changes together with
 * the status in one statement (a delivered, failed, reversed row), except in two support paths
 * that move value in the pool while the status stays failed or held (`valueCommitted`,
 * `valueReturned`): there D1 records the pool's answer at once, because the status write that
 * follows may never land (a crash, or the exception resolved by someone else meanwhile), and D1
 * must never disagree with the pool about money.
 */
import { AppError } from "../core/errors";

export const DELIVERY_STATUSES = ["queued", "sending", "delivered", "failed", "held", "reversed", "reissued"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * Allowed moves. sending → sending is a claim taken over after its lease ran out; failed → failed
 * and held → failed are a cancellation or a failed retry after the batch ended.
 */
export const DELIVERY_TRANSITIONS: Readonly<Record<DeliveryStatus, readonly DeliveryStatus[]>> = {
  queued: ["sending", "failed"],
  sending: ["sending", "delivered", "failed", "held", "queued"],
  delivered: ["reversed", "reissued"],
  failed: ["queued", "delivered", "failed"],
  held: ["queued", "delivered", "failed"],
  reversed: [],
  reissued: [],
};

/** Statuses a row is created in: `queued` by the release fan-out, `sending` by a reissue (sent at once). */
export const INITIAL_STATUSES: readonly DeliveryStatus[] = ["queued", "sending"];

/** Statuses a delivery may still leave on its own (the consumer, the sweeps); the rest wait for a person or are final. */
export const IN_FLIGHT: readonly DeliveryStatus[] = ["queued", "sending"];

export function canTransition(from: DeliveryStatus, to: DeliveryStatus): boolean {
  return DELIVERY_TRANSITIONS[from]?.includes(to) ?? false;
}

function illegal(id: string, from: string, to: string): AppError {
  return new AppError("invalid_state_transition", `Delivery ${id} cannot go from ${from} to ${to}`, {
    delivery_status: from,
    allowed_next: DELIVERY_TRANSITIONS[from as DeliveryStatus] ?? [],
  });
}

/** `status IN (...)` from checked constants, so the planner sees literals. */
function statusIn(statuses: readonly DeliveryStatus[]): string {
  for (const s of statuses) if (!DELIVERY_STATUSES.includes(s)) throw new Error(`unknown delivery status ${s}`);
  return `status IN (${statuses.map((s) => `'${s}'`).join(", ")})`;
}

export interface Move {
  id: string;
  /** The statuses the row may be in; any other and the statement changes nothing. */
  from: readonly DeliveryStatus[];
  to: DeliveryStatus;
  reason: string | null;
  at: string;
  /** Set with the status: the pool's view of the value after this move. */
  committed?: 0 | 1;
  /** The masked code, when this move is the outcome of a send that revealed one. */
  masked?: string | null;
}

/**
 * One delivery's status change: every `from` → `to` must be in the table (else
 * `invalid_state_transition` and nothing is built). It ends any lease (claimed_until).
 */
export function move(d1: D1Database, m: Move): D1PreparedStatement {
  for (const f of m.from) if (!canTransition(f, m.to)) throw illegal(m.id, f, m.to);
  const params: unknown[] = [m.id, m.to, m.reason, m.at];
  const sets = ["status = ?2", "status_reason = ?3", "claimed_until = NULL", "updated_at = ?4"];
  if (m.masked !== undefined) sets.push(`masked_code = COALESCE(?${params.push(m.masked)}, masked_code)`);
  if (m.committed !== undefined) sets.push(`committed = ?${params.push(m.committed)}`);
  if (m.to === "delivered") sets.push("delivered_at = ?4");
  return d1.prepare(`UPDATE deliveries SET ${sets.join(", ")} WHERE id = ?1 AND ${statusIn(m.from)}`).bind(...params);
}

/**
 * The consumer's claim of queued rows (or rows whose lease ran out), with a new lease and one more
 * attempt. `.all()` it: the rows it returns are the ones this invocation now owns.
 *
 * A claimed row is `sending` in the lifecycle, but the claim writes only the lease: the row keeps
 * `status = 'queued'` and its `updated_at`, which are index keys (deliveries_batch_status,
 * deliveries_org_status), so a claim is one row written instead of three. "Queued with a lease"
 * (claimed_until set) is how the consumer's sending rows look in D1; lists show them as `sending`
 * while the lease lasts (src/support/deliveries.query.ts), the completion check counts them as
 * unfinished, and the stuck sweeps pick them up once the lease has run out. Rows that support
 * actions set to `sending` (a reissue) keep that status.
 */
export function claim(d1: D1Database, org: string, ids: string[], now: Date, leaseUntil: Date): D1PreparedStatement {
  return d1
    .prepare(
      `UPDATE deliveries SET claimed_until = ?3, attempts = attempts + 1 FROM json_each(?1) AS j
     WHERE deliveries.id = j.value AND +deliveries.org = ?4
       AND ((+status = 'queued' AND (claimed_until IS NULL OR claimed_until < ?2)) OR (+status = 'sending' AND claimed_until < ?2))
     RETURNING id, recipient_id, amount, code_id, card_id, committed, item, channel, attempts`,
    )
    .bind(JSON.stringify(ids), now.toISOString(), leaseUntil.toISOString(), org);
}

/** How one claimed delivery ends a consumer invocation; `committed` undefined leaves the flag as it is. */
export interface Settled {
  id: string;
  status: DeliveryStatus;
  reason: string | null;
  masked?: string | null;
  committed?: boolean;
  /** The reward obtained in this invocation (recorded with the outcome, so the row is written once). */
  code_id?: string | null;
  card_id?: string | null;
}

/**
 * The consumer's outcomes for its claimed (sending) rows, one statement for all of them: a row is
 * claimed when it is `sending`, or `queued` with a lease (see `claim`).
 */
export function settle(d1: D1Database, rows: Settled[], at: string): D1PreparedStatement {
  for (const r of rows) if (!canTransition("sending", r.status)) throw illegal(r.id, "sending", r.status);
  const json = rows.map((r) => ({ ...r, committed: r.committed === undefined ? null : r.committed ? 1 : 0 }));
  return d1
    .prepare(
      `UPDATE deliveries SET status = j.value ->> 'status', status_reason = j.value ->> 'reason', claimed_until = NULL,
       masked_code = COALESCE(j.value ->> 'masked', masked_code), committed = COALESCE(j.value ->> 'committed', committed), updated_at = ?2,
       code_id = COALESCE(j.value ->> 'code_id', code_id), card_id = COALESCE(j.value ->> 'card_id', card_id),
       delivered_at = CASE WHEN j.value ->> 'status' = 'delivered' THEN ?2 ELSE delivered_at END
     FROM json_each(?1) AS j WHERE deliveries.id = j.value ->> 'id'
       AND (deliveries.status = 'sending' OR (deliveries.status = 'queued' AND deliveries.claimed_until IS NOT NULL))`,
    )
    .bind(JSON.stringify(json), at);
}

/** Retries ran out (the dead-letter queue): failed, its value already given back to the hold. */
export const failExhausted = (d1: D1Database, id: string, reason: string, at: string) =>
  move(d1, { id, from: IN_FLIGHT, to: "failed", reason, at, committed: 0 });

/** A send outside the queue (a reissue, a retry after the batch ended) reached the recipient. */
export const deliveredNow = (d1: D1Database, id: string, masked: string | null, at: string) =>
  move(d1, { id, from: ["sending", "failed", "held"], to: "delivered", reason: null, at, masked, committed: 1 });

/** A send outside the queue failed; `committed` is 1 while the value stays committed until its refund is recorded. */
export const failedNow = (d1: D1Database, id: string, reason: string, masked: string | null, committed: 0 | 1, at: string) =>
  move(d1, { id, from: ["sending", "failed", "held"], to: "failed", reason, at, masked, committed });

/** A failed or held delivery goes back to the queue (its exception resolved with retry). */
export const requeue = (d1: D1Database, id: string, reason: string, at: string) => move(d1, { id, from: ["failed", "held"], to: "queued", reason, at });

/** A failed or held delivery is failed for good (its exception resolved with cancel); its value was refunded. */
export const cancel = (d1: D1Database, id: string, reason: string, at: string) =>
  move(d1, { id, from: ["failed", "held"], to: "failed", reason, at, committed: 0 });

/** A delivered reward voided and its value given back to the pool. */
export const reverse = (d1: D1Database, id: string, reason: string, at: string) =>
  move(d1, { id, from: ["delivered"], to: "reversed", reason, at, committed: 0 });

/** A delivered reward replaced by the new delivery `newId` (its value stays committed, now on the new row). */
export const retire = (d1: D1Database, id: string, newId: string, at: string) =>
  move(d1, { id, from: ["delivered"], to: "reissued", reason: `reissued as ${newId}`, at });

/** The pool committed this failed or held delivery's value again (a retry after its batch ended). */
export function valueCommitted(d1: D1Database, id: string): D1PreparedStatement {
  return d1.prepare(`UPDATE deliveries SET committed = 1 WHERE id = ? AND ${statusIn(["failed", "held"])}`).bind(id);
}

/** The pool gave this failed or held delivery's value back (a failed retry, a cancellation). */
export function valueReturned(d1: D1Database, id: string): D1PreparedStatement {
  return d1.prepare(`UPDATE deliveries SET committed = 0 WHERE id = ? AND ${statusIn(["failed", "held"])}`).bind(id);
}

/** The deliveries of one chunk of a delivering batch, created `queued` (once: a replayed chunk adds nothing). */
export function createForChunk(d1: D1Database, batchId: string, fromRow: number, toRow: number, at: string): D1PreparedStatement {
  return d1
    .prepare(
      `INSERT OR IGNORE INTO deliveries (id, org, batch_id, recipient_id, pool_id, product_id, channel, amount, currency, status, item, created_at, updated_at)
     SELECT 'dlv_' || substr(r.id, 5), r.org, r.batch_id, r.id, b.pool_id, b.product_id, b.channel, r.amount, b.currency, 'queued',
            'dlv_' || substr(r.id, 5), ?4, ?4
     FROM batches b JOIN batch_recipients r ON r.batch_ref = b.ref
     WHERE b.id = ?1 AND r.status = 'valid' AND r.row_no BETWEEN ?2 AND ?3 AND b.status = 'delivering'`,
    )
    .bind(batchId, fromRow, toRow, at);
}

export interface ReissueRow {
  id: string;
  /** The new reward's value: the old one's, or a card's unspent base value. */
  amount: number;
  old: {
    id: string;
    org: string;
    /** Null for a campaign reward, whose reissue keeps its campaign and event. */
    batchId: string | null;
    campaignId: string | null;
    eventId: string | null;
    recipientId: string;
    poolId: string;
    productId: string;
    channel: string;
    amount: number;
    currency: string;
    item: string;
    attempts: number;
  };
  reward: { codeId: string | null; cardId: string | null };
  leaseUntil: string;
  at: string;
}

/**
 * The new delivery of a reissue: `sending` (leased until its send is recorded) and committed, on the
 * old row's pool item. attempts continues from the old row: refund operation ids derive from
 * (item, attempts), and the item is shared.
 */
export function createReissue(d1: D1Database, r: ReissueRow): D1PreparedStatement {
  const o = r.old;
  return d1
    .prepare(
      `INSERT INTO deliveries (id, org, batch_id, recipient_id, pool_id, product_id, channel, amount, currency, status, status_reason, item, committed,
       code_id, card_id, attempts, claimed_until, reissue_of, created_at, updated_at, campaign_id, event_id)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'sending', NULL, ?10, 1, ?11, ?12, ?13, ?14, ?15, ?16, ?16, ?17, ?18)`,
    )
    .bind(
      r.id,
      o.org,
      o.batchId,
      o.recipientId,
      o.poolId,
      o.productId,
      o.channel,
      r.amount,
      o.currency,
      o.item,
      r.reward.codeId,
      r.reward.cardId,
      o.attempts,
      r.leaseUntil,
      o.id,
      r.at,
      o.campaignId,
      o.eventId,
    );
}

export interface CampaignRewardRow {
  id: string;
  outcomeId: string;
  campaignId: string;
  eventId: string;
  poolId: string;
  productId: string;
  channel: "email" | "sms" | "link";
  amount: number;
  currency: string;
}

/**
 * The deliveries of campaign rewards, created `queued` and already committed: their value left the
 * campaign's hold when the events were evaluated (item = delivery id). One statement for a whole
 * request's rewards; once: a re-run evaluation adds nothing.
 */
export function createForCampaignRewards(d1: D1Database, org: string, at: string, rows: CampaignRewardRow[]): D1PreparedStatement {
  return d1
    .prepare(
      `INSERT OR IGNORE INTO deliveries (id, org, batch_id, recipient_id, campaign_id, event_id, pool_id, product_id, channel, amount, currency, status, item, committed, created_at, updated_at)
     SELECT value ->> 'id', ?1, NULL, value ->> 'outcomeId', value ->> 'campaignId', value ->> 'eventId', value ->> 'poolId', value ->> 'productId',
       value ->> 'channel', value ->> 'amount', value ->> 'currency', 'queued', value ->> 'id', 1, ?2, ?2
     FROM json_each(?3)`,
    )
    .bind(org, at, JSON.stringify(rows));
}

/** The deliveries of a campaign's approved rewards of one day (committed at evaluation), created `queued`, once. */
export function createForApprovedRewards(d1: D1Database, campaignId: string, day: string, at: string): D1PreparedStatement {
  return d1
    .prepare(
      `INSERT OR IGNORE INTO deliveries (id, org, batch_id, recipient_id, campaign_id, event_id, pool_id, product_id, channel, amount, currency, status, item, committed, created_at, updated_at)
     SELECT o.delivery_id, o.org, NULL, o.id, o.campaign_id, o.event_id, c.pool_id, c.product_id, c.channel, o.amount, c.currency, 'queued', o.delivery_id, 1, ?3, ?3
     FROM campaign_outcomes o JOIN campaigns c ON c.id = o.campaign_id
     WHERE o.campaign_id = ?1 AND o.approval_day = ?2 AND o.outcome = 'pending_approval' AND o.committed = 1`,
    )
    .bind(campaignId, day, at);
}
