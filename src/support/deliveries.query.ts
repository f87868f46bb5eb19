/**
 * Finding deliveries: by batch, recipient email or phone (through the same normalised keys that
 * validation stores), external id or status, newest first; a single delivery with every attempt.
 */
import { and, desc, eq, lt, sql, type SQL } from "drizzle-orm";
import { AppError } from "../core/errors";
import { emailKey, toE164 } from "../core/contacts";
import { decodeCursor, encodeCursor } from "../core/pagination";
import { createDb } from "../db/client";
import { batchRecipients, deliveries } from "../db/schema";
import type { DeliveryStatus } from "./delivery-store";
import type { DeliveryListRow } from "./delivery-views";

export interface DeliveryFilter {
  id?: string;
  batch_id?: string;
  status?: DeliveryStatus;
  recipient_email?: string;
  recipient_phone?: string;
  external_id?: string;
}

/** The filter names a recipient (email, phone or external id): the search starts from that key. */
const byRecipient = (f: DeliveryFilter) => Boolean(f.recipient_email || f.recipient_phone || f.external_id);

function conditions(org: string, f: DeliveryFilter, before?: string): SQL[] {
  // Searching by email, phone or external id starts from that key's index and then the recipient's
  // deliveries. Left to itself, SQLite (no statistics) walks the org's deliveries newest first
  // through (org, id) and probes each one's recipient: every delivery of the org for a person paid
  // once. The unary + keeps it off the org index. External ids are indexed per batch (batch_ref,
  // external_id), so that search probes each of the org's batches.
  const out: SQL[] = [byRecipient(f) ? sql`+${deliveries.org} = ${org}` : eq(deliveries.org, org)];
  if (f.id) out.push(eq(deliveries.id, f.id));
  if (f.batch_id) out.push(eq(deliveries.batchId, f.batch_id));
  if (f.status) out.push(eq(deliveries.status, f.status));
  if (f.recipient_email) out.push(eq(batchRecipients.emailKey, emailKey(f.recipient_email.trim())));
  if (f.recipient_phone) {
    const phone = toE164(f.recipient_phone.trim());
    if (!phone) {
      throw new AppError("validation_failed", "recipient_phone is not a valid phone number", {
        errors: [{ parameter: "recipient_phone", code: "phone_invalid", detail: "Give the number in E.164, e.g. +14155550123" }],
      });
    }
    out.push(eq(batchRecipients.phoneKey, phone));
  }
  if (f.external_id) {
    out.push(eq(batchRecipients.externalId, f.external_id));
    out.push(sql`${batchRecipients.batchRef} IN (SELECT ref FROM batches WHERE org = ${org})`);
  }
  if (before) out.push(lt(deliveries.id, before));
  return out;
}

/** Up to `limit` deliveries matching `f`, newest first, after the cursor key `before`. */
export async function deliveryRows(d1: D1Database, org: string, f: DeliveryFilter, limit: number, before?: string): Promise<DeliveryListRow[]> {
  return createDb(d1)
    .select({
      id: deliveries.id,
      batch_id: deliveries.batchId,
      status: deliveries.status,
      status_reason: deliveries.statusReason,
      amount: deliveries.amount,
      currency: deliveries.currency,
      channel: deliveries.channel,
      masked_code: deliveries.maskedCode,
      attempt_count: sql<number>`(SELECT COUNT(*) FROM delivery_attempts a WHERE a.delivery_id = ${deliveries.id})`,
      created_at: deliveries.createdAt,
      updated_at: deliveries.updatedAt,
      delivered_at: deliveries.deliveredAt,
      claim_opened_at: deliveries.claimOpenedAt,
      reissue_of: deliveries.reissueOf,
      recipient_id: deliveries.recipientId,
      external_id: batchRecipients.externalId,
      name: batchRecipients.name,
      email: batchRecipients.email,
      phone: batchRecipients.phone,
    })
    .from(deliveries)
    .innerJoin(batchRecipients, eq(batchRecipients.id, deliveries.recipientId))
    .where(and(...conditions(org, f, before)))
    .orderBy(desc(byStatusIndex(f) ? sql`+${deliveries.id}` : deliveries.id))
    .limit(limit);
}

/**
 * Every status but `delivered` is a small share of an org's deliveries (failed, held, in flight,
 * reversed, reissued): those are read through (org, status) and sorted, instead of walking the
 * org's deliveries newest first until enough match — all of them, for a status that is rare. The
 * unary + on the sort key is what keeps SQLite off the walk. `delivered` keeps the walk, which
 * finds a page at once.
 */
const byStatusIndex = (f: DeliveryFilter) => f.status !== undefined && f.status !== "delivered" && !byRecipient(f);

/** One page of deliveries with an opaque cursor (the last id). */
export async function deliveryPage(d1: D1Database, org: string, f: DeliveryFilter, limit: number, cursor?: string) {
  const rows = await deliveryRows(d1, org, f, limit + 1, cursor ? decodeCursor(cursor) : undefined);
  const page = rows.slice(0, limit);
  return { rows: page, next_cursor: rows.length > limit ? encodeCursor(page.at(-1)!.id) : null };
}
