/**
 * How deliveries look in responses and exports. Contact details are masked (support confirms a
 * recipient by the address they give, never reads one out) and codes appear only masked.
 */

/** `jane.doe@example.com` → `j***@example.com`. */
export function maskEmail(email: string | null): string | null {
  if (!email) return null;
  const at = email.lastIndexOf("@");
  if (at <= 0) return "***";
  return `${email[0]}***${email.slice(at)}`;
}

/** `+14155550123` → `+1******0123`: country prefix and last four digits only. */
export function maskPhone(phone: string | null): string | null {
  if (!phone) return null;
  if (phone.length <= 6) return "***";
  return `${phone.slice(0, 2)}${"*".repeat(phone.length - 6)}${phone.slice(-4)}`;
}

import type { deliveries, deliveryAttempts } from "../db/schema";

type Delivery = typeof deliveries.$inferSelect;
type Attempt = typeof deliveryAttempts.$inferSelect;

/** A delivery row joined with its recipient, as the list queries return it. */
export interface DeliveryListRow {
  id: string;
  batch_id: string | null;
  status: Delivery["status"];
  status_reason: string | null;
  amount: number;
  currency: string;
  channel: Delivery["channel"];
  masked_code: string | null;
  attempt_count: number;
  created_at: string;
  updated_at: string;
  delivered_at: string | null;
  claim_opened_at: string | null;
  reissue_of: string | null;
  recipient_id: string;
  campaign_id: string | null;
  event_id: string | null;
  external_id: string | null;
  name: string | null;
  email: string | null;
  phone: string | null;
}

export function deliveryView(r: DeliveryListRow) {
  return {
    id: r.id,
    batch_id: r.batch_id,
    campaign_id: r.campaign_id,
    event_id: r.event_id,
    status: r.status,
    status_reason: r.status_reason,
    amount: { amount: r.amount, currency: r.currency },
    channel: r.channel,
    masked_code: r.masked_code,
    recipient: { id: r.recipient_id, external_id: r.external_id, name: r.name, email: maskEmail(r.email), phone: maskPhone(r.phone) },
    attempt_count: r.attempt_count,
    reissue_of: r.reissue_of,
    created_at: r.created_at,
    updated_at: r.updated_at,
    delivered_at: r.delivered_at,
    claim_opened_at: r.claim_opened_at,
  };
}
export type DeliveryView = ReturnType<typeof deliveryView>;

export interface AttemptRow {
  attempt_no: number;
  kind: Attempt["kind"];
  channel: string;
  outcome: Attempt["outcome"];
  provider_message_id: string | null;
  error_class: "transient" | "data" | "policy" | null;
  error_detail: string | null;
  actor: string;
  created_at: string;
  completed_at: string | null;
}

export function attemptView(a: AttemptRow) {
  return {
    attempt_no: a.attempt_no,
    kind: a.kind,
    channel: a.channel,
    outcome: a.outcome,
    provider_message_id: a.provider_message_id,
    error_class: a.error_class,
    error_detail: a.error_detail,
    actor: a.actor,
    created_at: a.created_at,
    completed_at: a.completed_at,
  };
}

export const CSV_COLUMNS = [
  "id",
  "batch_id",
  "status",
  "status_reason",
  "amount",
  "currency",
  "channel",
  "masked_code",
  "external_id",
  "name",
  "email",
  "phone",
  "attempts",
  "created_at",
  "delivered_at",
  "reissue_of",
] as const;

export function csvValues(r: DeliveryListRow): unknown[] {
  return [
    r.id,
    r.batch_id,
    r.status,
    r.status_reason,
    r.amount,
    r.currency,
    r.channel,
    r.masked_code,
    r.external_id,
    r.name,
    maskEmail(r.email),
    maskPhone(r.phone),
    r.attempt_count,
    r.created_at,
    r.delivered_at,
    r.reissue_of,
  ];
}
