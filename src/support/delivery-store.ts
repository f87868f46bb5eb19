/**
 * Reading and leasing single deliveries for support and operator actions (resend, reissue,
 * reverse, exception resolution). Every read is scoped by org: another org's delivery is a 404.
 */
import { and, eq } from "drizzle-orm";
import { AppError, notFound } from "../core/errors";
import { createDb } from "../db/client";
import { deliveries } from "../db/schema";
import type { SendJob } from "../delivery/send";

export type DeliveryRecord = typeof deliveries.$inferSelect;
export type DeliveryStatus = DeliveryRecord["status"];

/** How long a support action holds a delivery; a crashed action frees it after this. */
const LEASE_MS = 60_000;

export async function findDelivery(d1: D1Database, org: string, id: string): Promise<DeliveryRecord | null> {
  const [row] = await createDb(d1)
    .select()
    .from(deliveries)
    .where(and(eq(deliveries.org, org), eq(deliveries.id, id)))
    .limit(1);
  return row ?? null;
}

export async function requireDelivery(d1: D1Database, org: string, id: string): Promise<DeliveryRecord> {
  const row = await findDelivery(d1, org, id);
  if (!row) throw notFound("delivery", id);
  return row;
}

/**
 * Takes the delivery for one support action (claimed_until as a lease, the column the consumer
 * uses for its own claims) when its status is one of `statuses`. Two resends, a resend racing a
 * reverse, or two reissues of the same delivery therefore never run at once.
 */
export async function leaseDelivery(d1: D1Database, org: string, id: string, statuses: readonly DeliveryStatus[], action: string): Promise<DeliveryRecord> {
  const now = new Date();
  const row = await d1
    .prepare(
      `UPDATE deliveries SET claimed_until = ?3
       WHERE id = ?1 AND org = ?2 AND status IN (SELECT value FROM json_each(?4)) AND (claimed_until IS NULL OR claimed_until < ?5)
       RETURNING id`,
    )
    .bind(id, org, new Date(now.getTime() + LEASE_MS).toISOString(), JSON.stringify(statuses), now.toISOString())
    .first<{ id: string }>();
  const current = await requireDelivery(d1, org, id);
  if (row) return current;
  if (!statuses.includes(current.status)) {
    throw new AppError("invalid_state_transition", `Delivery ${id} is ${current.status}; ${action} needs it ${statuses.join(" or ")}`, {
      delivery_status: current.status,
    });
  }
  throw new AppError("conflict", `Another action on delivery ${id} is running; retry in a minute`);
}

/** The statement that gives a leased delivery back (run in the transaction that records the action). */
export function releaseLease(d1: D1Database, id: string): D1PreparedStatement {
  return d1.prepare("UPDATE deliveries SET claimed_until = NULL WHERE id = ?").bind(id);
}

export interface SendFacts {
  job: SendJob;
  productKind: "inventory" | "stored_value";
  expiresAfterDays: number | null;
  recipientKey: string | null;
  batchStatus: string;
  holdId?: string;
}

/** What sending a delivery again needs: its recipient, product and batch, in one query. */
export async function sendFacts(d1: D1Database, d: DeliveryRecord): Promise<SendFacts> {
  // A campaign reward's recipient is its outcome row; the campaign stands in for the batch (its status too).
  const row = await d1
    .prepare(
      d.batchId === null
        ? `SELECT r.name, r.email, r.phone, r.external_id, r.customer_key AS email_key, NULL AS phone_key, p.name AS product_name, p.kind,
                  coalesce(c.reward ->> '$.expires_after_days', p.expires_after_days) AS expires_after_days,
                  c.name AS batch_name, c.status AS batch_status
           FROM campaign_outcomes r JOIN campaigns c ON c.id = r.campaign_id JOIN products p ON p.id = ?3 WHERE r.id = ?1 AND ?2 IS NULL`
        : `SELECT r.name, r.email, r.phone, r.external_id, r.email_key, r.phone_key, p.name AS product_name, p.kind, p.expires_after_days,
                  b.name AS batch_name, b.status AS batch_status
           FROM batch_recipients r JOIN batches b ON b.id = ?2 JOIN products p ON p.id = ?3 WHERE r.id = ?1`,
    )
    .bind(d.recipientId, d.batchId, d.productId)
    .first<Record<string, string | number | null>>();
  if (!row) throw new AppError("internal_error", `Delivery ${d.id} has no recipient row`);
  const s = (k: string) => (row[k] === null || row[k] === undefined ? null : String(row[k]));
  return {
    job: {
      deliveryId: d.id,
      org: d.org,
      channel: d.channel,
      amount: d.amount,
      currency: d.currency,
      codeId: d.codeId,
      cardId: d.cardId,
      recipient: { name: s("name"), email: s("email"), phone: s("phone"), externalId: s("external_id") },
      productName: String(row.product_name),
      batchName: String(row.batch_name),
    },
    productKind: row.kind as SendFacts["productKind"],
    expiresAfterDays: (row.expires_after_days as number | null) ?? null,
    recipientKey: s("email_key") ?? s("phone_key"),
    batchStatus: String(row.batch_status),
  };
}

/**
 * Voids a delivery's reward: an inventory code stays assigned to the delivery (it was seen by the
 * recipient, so it must never go to anyone else) but is marked void; a card becomes `void`.
 */
export function voidReward(d1: D1Database, d: Pick<DeliveryRecord, "codeId" | "cardId">, at: string): D1PreparedStatement[] {
  const out: D1PreparedStatement[] = [];
  if (d.codeId) out.push(d1.prepare("UPDATE inventory_codes SET voided_at = ?2 WHERE id = ?1 AND voided_at IS NULL").bind(d.codeId, at));
  if (d.cardId) out.push(d1.prepare("UPDATE cards SET status = 'void' WHERE id = ?").bind(d.cardId));
  return out;
}
