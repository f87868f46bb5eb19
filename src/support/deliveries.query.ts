/**
 * Finding deliveries: by batch, recipient email or phone (through the same normalised keys that
 * validation stores), external id or status, newest first; a single delivery with every attempt.
 */
import { and, desc, eq, lt, sql, type SQL } from "drizzle-orm";
import { AppError } from "../core/errors";
import { emailKey, isValidEmail, toE164 } from "../core/contacts";
import { decodeCursor, encodeCursor } from "../core/pagination";
import { createDb } from "../db/client";
import { batchRecipients, campaignOutcomes, deliveries } from "../db/schema";
import type { DeliveryStatus } from "./delivery-store";
import type { DeliveryListRow } from "./delivery-views";

export interface DeliveryFilter {
  id?: string;
  batch_id?: string;
  campaign_id?: string;
  status?: DeliveryStatus;
  recipient_email?: string;
  recipient_phone?: string;
  external_id?: string;
}

/** The filter names a recipient (email, phone or external id): the search starts from that key. */
const byRecipient = (f: DeliveryFilter) => Boolean(f.recipient_email || f.recipient_phone || f.external_id);

/**
 * Where a search starts. SQLite has no statistics here (nor on D1 unless ANALYZE ran), so left to
 * itself it walks the org's deliveries newest first through (org, id) and tests each one: every
 * delivery of the org for a person paid once, or for an old batch. A unary + on a column keeps
 * SQLite off the indexes that start with it.
 *   recipient: the email / phone / external-id key, then the recipient's deliveries (few; sorted).
 *              External ids are indexed per batch (batch_ref, external_id): each org batch is probed.
 *   batch:     (batch_id, status, id) or (batch_id, id), already in id order.
 *   status:    every status but `delivered` is a small share of an org's deliveries (failed, held,
 *              in flight, reversed, reissued): read through (org, status) and sorted.
 *   org:       the walk, which finds a page of recent (or delivered) deliveries at once.
 */
function startFrom(f: DeliveryFilter): "recipient" | "batch" | "status" | "org" {
  if (byRecipient(f)) return "recipient";
  if (f.batch_id || f.campaign_id) return "batch";
  if (f.status !== undefined && f.status !== "delivered") return "status";
  return "org";
}

/** The recipient keys a filter names, normalised like validation stores them (400 when malformed). */
function recipientKeys(f: DeliveryFilter): { email?: string; phone?: string; externalId?: string } {
  const keys: { email?: string; phone?: string; externalId?: string } = {};
  if (f.recipient_email) {
    // A '+tag' sent without URL-encoding arrives as a space (form decoding); addresses hold no spaces.
    const email = f.recipient_email.trim().replaceAll(" ", "+");
    if (!isValidEmail(email)) {
      throw new AppError("validation_failed", "recipient_email is not an email address", {
        errors: [{ parameter: "recipient_email", code: "email_invalid", detail: "Give the whole address, e.g. ann@example.com" }],
      });
    }
    keys.email = emailKey(email);
  }
  if (f.recipient_phone) {
    const phone = toE164(f.recipient_phone.trim());
    if (!phone) {
      throw new AppError("validation_failed", "recipient_phone is not a valid phone number", {
        errors: [{ parameter: "recipient_phone", code: "phone_invalid", detail: "Give the number in E.164, e.g. +14155550123" }],
      });
    }
    keys.phone = phone;
  }
  if (f.external_id) keys.externalId = f.external_id;
  return keys;
}

/**
 * The search's conditions. A recipient search runs twice, once through batch recipients and once
 * through campaign rewards' customers (`side`); every other search reaches both kinds of
 * delivery through `deliveries` itself.
 */
function conditions(org: string, f: DeliveryFilter, before: string | undefined, side: "batch" | "campaign"): SQL[] {
  const start = startFrom(f);
  const out: SQL[] = [start === "recipient" || start === "batch" ? sql`+${deliveries.org} = ${org}` : eq(deliveries.org, org)];
  if (f.id) out.push(eq(deliveries.id, f.id));
  if (f.batch_id) out.push(eq(deliveries.batchId, f.batch_id));
  if (f.campaign_id) out.push(eq(deliveries.campaignId, f.campaign_id));
  if (f.status) out.push(eq(deliveries.status, f.status));
  // The status indexes hold no delivered rows; SQLite uses them only when the query says so.
  if (f.status && f.status !== "delivered") out.push(sql`${deliveries.status} <> 'delivered'`);
  const keys = recipientKeys(f);
  if (side === "batch") {
    if (keys.email) out.push(eq(batchRecipients.emailKey, keys.email));
    if (keys.phone) out.push(eq(batchRecipients.phoneKey, keys.phone));
    if (keys.externalId) {
      out.push(eq(batchRecipients.externalId, keys.externalId));
      out.push(sql`${batchRecipients.batchRef} IN (SELECT ref FROM batches WHERE org = ${org})`);
    }
  } else if (byRecipient(f)) {
    // A customer is found by the identity caps count by (email, else phone, else external id) and by external id.
    out.push(eq(campaignOutcomes.org, org));
    if (keys.email) out.push(eq(campaignOutcomes.customerKey, `email:${keys.email}`));
    if (keys.phone) out.push(eq(campaignOutcomes.customerKey, `phone:${keys.phone}`));
    if (keys.externalId) out.push(eq(campaignOutcomes.externalId, keys.externalId));
  }
  if (before) out.push(lt(deliveries.id, before));
  return out;
}

/** Up to `limit` deliveries matching `f`, newest first, after the cursor key `before`: batch deliveries and campaign rewards alike. */
export async function deliveryRows(d1: D1Database, org: string, f: DeliveryFilter, limit: number, before?: string): Promise<DeliveryListRow[]> {
  if (!byRecipient(f)) return rowsOf(d1, org, f, limit, before, "batch");
  const sides: ("batch" | "campaign")[] = f.batch_id ? ["batch"] : f.campaign_id ? ["campaign"] : ["batch", "campaign"];
  const found = (await Promise.all(sides.map((side) => rowsOf(d1, org, f, limit, before, side)))).flat();
  return found.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)).slice(0, limit);
}

async function rowsOf(
  d1: D1Database,
  org: string,
  f: DeliveryFilter,
  limit: number,
  before: string | undefined,
  side: "batch" | "campaign",
): Promise<DeliveryListRow[]> {
  const recipientSearch = byRecipient(f);
  return createDb(d1)
    .select({
      id: deliveries.id,
      batch_id: deliveries.batchId,
      // A queued row with a live lease is being sent by the consumer (delivery-state.ts `claim`).
      status: sql<
        DeliveryListRow["status"]
      >`CASE WHEN ${deliveries.status} = 'queued' AND ${deliveries.claimedUntil} > strftime('%Y-%m-%dT%H:%M:%fZ', 'now') THEN 'sending' ELSE ${deliveries.status} END`,
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
      campaign_id: deliveries.campaignId,
      event_id: deliveries.eventId,
      // A batch delivery's recipient, or a campaign reward's customer (its outcome row).
      external_id: sql<string | null>`COALESCE(${batchRecipients.externalId}, ${campaignOutcomes.externalId})`,
      name: sql<string | null>`COALESCE(${batchRecipients.name}, ${campaignOutcomes.name})`,
      email: sql<string | null>`COALESCE(${batchRecipients.email}, ${campaignOutcomes.email})`,
      phone: sql<string | null>`COALESCE(${batchRecipients.phone}, ${campaignOutcomes.phone})`,
    })
    .from(deliveries)
    [
      // A recipient search starts from its recipients (an inner join the planner may lead with).
      recipientSearch && side === "batch" ? "innerJoin" : "leftJoin"
    ](batchRecipients, eq(batchRecipients.id, deliveries.recipientId))
    [recipientSearch && side === "campaign" ? "innerJoin" : "leftJoin"](campaignOutcomes, eq(campaignOutcomes.id, deliveries.recipientId))
    .where(and(...conditions(org, f, before, side)))
    .orderBy(desc(startFrom(f) === "status" ? sql`+${deliveries.id}` : deliveries.id))
    .limit(limit);
}

/** One page of deliveries with an opaque cursor (the last id). */
export async function deliveryPage(d1: D1Database, org: string, f: DeliveryFilter, limit: number, cursor?: string) {
  const rows = await deliveryRows(d1, org, f, limit + 1, cursor ? decodeCursor(cursor, "dlv") : undefined);
  const page = rows.slice(0, limit);
  return { rows: page, next_cursor: rows.length > limit ? encodeCursor("dlv", page.at(-1)!.id) : null };
}
