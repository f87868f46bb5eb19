/**
 * The webhook event catalogue (API.md "Webhooks"): every type a receiver can subscribe to, and the
 * one explicit mapping from audit actions to event types that makes an audited state change a
 * webhook event (src/webhooks/outbox.ts, called by appendAudit in the same D1 batch).
 */

export const EVENT_VERSION = "2026-12-07";

export const EVENT_TYPES = [
  "batch.submitted",
  "batch.approved",
  "batch.rejected",
  "batch.released",
  "batch.completed",
  "batch.expired",
  "batch.cancelled",
  "delivery.delivered",
  "delivery.failed",
  "delivery.held",
  "delivery.reversed",
  "delivery.reissued",
  "card.redeemed",
  "card.expired",
  "campaign.activated",
  "campaign.paused",
  "campaign.budget_low",
  "campaign.ended",
  "exception.opened",
  "exception.resolved",
  "reconciliation.completed",
  "pool.low_balance",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];
/** Sent by POST /v1/webhook-endpoints/{id}/test only; never subscribed to. */
export const PING = "ping";

/**
 * Audit action → webhook event type. An action not listed here emits nothing. `card.*` and
 * `campaign.*` are listed under the action names their owners are expected to audit with, so
 * auditing `card.redeemed` (say) is all it takes to emit the event; `exception.opened` comes from a
 * trigger on `exceptions` (migration 0018), `pool.low_balance` from src/webhooks/low-balance.ts.
 */
export const AUDIT_TO_EVENT: Readonly<Record<string, EventType>> = {
  "batch.submitted": "batch.submitted",
  "batch.approved": "batch.approved",
  "batch.rejected": "batch.rejected",
  "batch.released": "batch.released",
  "batch.completed": "batch.completed", // completed and completed_with_errors: data.status says which
  "batch.expired": "batch.expired",
  "batch.cancelled": "batch.cancelled",
  "delivery.delivered": "delivery.delivered",
  "delivery.failed": "delivery.failed",
  "delivery.cancelled": "delivery.failed", // an exception resolved with cancel fails the delivery for good
  "delivery.held": "delivery.held",
  "delivery.reversed": "delivery.reversed",
  "delivery.reissued": "delivery.reissued",
  "card.redeemed": "card.redeemed",
  "card.hold_captured": "card.redeemed", // a captured checkout hold is a redemption too
  "card.expired": "card.expired",
  "campaign.activated": "campaign.activated",
  "campaign.paused": "campaign.paused",
  "campaign.auto_paused": "campaign.paused", // paused by its budget threshold: data.reason says which
  "campaign.budget_low": "campaign.budget_low",
  "campaign.ended": "campaign.ended",
  "exception.resolved": "exception.resolved",
  "reconciliation.completed": "reconciliation.completed",
  "pool.low_balance": "pool.low_balance",
};

/**
 * The only fields of an audit event's `after` a payload may carry: ids, statuses, reason codes,
 * amounts and masked values. Anything else (a code, a claim URL, an address) never leaves.
 */
const SAFE_KEYS = [
  "status",
  "reason",
  "batch_id",
  "pool_id",
  "campaign_id",
  "card_id",
  "delivery_id",
  "exception_id",
  "new_delivery_id",
  "kind",
  "severity",
  "resolution",
  "findings",
  "by_kind",
  "amount",
  "currency",
  "available",
  "threshold",
  "committed",
  "budget",
  "remaining",
  "masked_code",
] as const;

/** A string that could be a link or a code in clear is dropped (defence in depth: SAFE_KEYS already excludes them). */
const unsafeString = (v: string) => /https?:\/\/|\/claim\//i.test(v);

function safeValue(v: unknown): unknown {
  if (typeof v === "string") return unsafeString(v) ? undefined : v.slice(0, 500);
  if (typeof v === "number" || typeof v === "boolean" || v === null) return v;
  if (typeof v === "object" && !Array.isArray(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (typeof x === "number") out[k] = x; // counts by kind
    return out;
  }
  return undefined;
}

/** The `data` of an event: the entity's id and type, then the safe fields of what changed. */
export function eventData(entityType: string, entityId: string, after: unknown): Record<string, unknown> {
  const data: Record<string, unknown> = { object: entityType, id: entityId };
  if (after && typeof after === "object") {
    const a = after as Record<string, unknown>;
    for (const k of SAFE_KEYS) {
      if (!(k in a)) continue;
      const v = safeValue(a[k]);
      if (v !== undefined) data[k] = v;
    }
  }
  return data;
}

/** Whether an endpoint subscribed to `events` receives `type`. */
export const subscribes = (events: readonly string[], type: string) => type === PING || events.includes("*") || events.includes(type);
