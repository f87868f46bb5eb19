/**
 * Cards in D1: the row that says who owns a card and the mirror of its balance. Every call to a
 * card's Durable Object goes through `cardStub` with the seed built here from that row.
 */
import { emailKey, isValidEmail } from "../core/contacts";
import { AppError } from "../core/errors";
import { decodeCursor, encodeCursor } from "../core/pagination";
import { codeHmac } from "../catalog/code-crypto";
import type { Env } from "../env";
import type { CardFailure, CardSeed, CardStatus } from "../../durable-objects/card-types";
import { cardIdSql } from "../delivery/rewards";

export interface CardRow {
  id: string;
  org: string;
  product_id: string;
  delivery_id: string;
  currency: string;
  initial_amount: number;
  status: CardStatus | "void";
  expires_at: string | null;
  created_at: string;
  available: number;
  pending: number;
  redeemed: number;
  expired: number;
  reversed: number;
  credited: number;
  masked_code: string | null;
  batch_id: string | null;
  campaign_id: string | null;
  pool_id: string | null;
}

const COLUMNS = `c.id, c.org, c.product_id, c.delivery_id, c.currency, c.initial_amount, c.status, c.expires_at, c.created_at, c.available, c.pending,
  c.redeemed, c.expired, c.reversed, c.credited, d.masked_code, d.batch_id, d.campaign_id, d.pool_id`;

export function cardStub(env: Env, cardId: string) {
  return env.STORED_VALUE_CARD.get(env.STORED_VALUE_CARD.idFromName(cardId));
}

export function seedOf(row: Pick<CardRow, "id" | "org" | "currency" | "initial_amount" | "expires_at" | "created_at" | "status">): CardSeed {
  return {
    cardId: row.id,
    org: row.org,
    currency: row.currency,
    initialAmount: row.initial_amount,
    expiresAt: row.expires_at ? Date.parse(row.expires_at) : null,
    createdAt: Date.parse(row.created_at),
    voided: row.status === "void",
  };
}

/** Turns a card DO refusal into the API's error (with `available` or `redemption_id` where it has one). */
export function cardError(f: CardFailure): AppError {
  switch (f.code) {
    case "insufficient_balance":
      return new AppError("insufficient_balance", f.detail, { available: f.available ?? 0 });
    case "duplicate_reference":
      return new AppError("duplicate_reference", f.detail, { redemption_id: f.redemption_id });
    case "redemption_not_found":
      return new AppError("not_found", f.detail);
    case "invalid_amount":
      return new AppError("invalid_amount", f.detail, { errors: [{ pointer: "/amount", code: "too_big", detail: f.detail }] });
    case "invalid_argument":
      return new AppError("validation_failed", f.detail);
    default:
      return new AppError(f.code, f.detail);
  }
}

export async function findCard(env: Env, org: string, id: string): Promise<CardRow | null> {
  return env.DB.prepare(`SELECT ${COLUMNS} FROM cards c LEFT JOIN deliveries d ON d.id = c.delivery_id WHERE c.id = ?1 AND c.org = ?2`)
    .bind(id, org)
    .first<CardRow>();
}

export async function requireCard(env: Env, org: string, id: string): Promise<CardRow> {
  const row = await findCard(env, org, id);
  if (!row) throw new AppError("not_found", `No card with id ${id}`);
  return row;
}

/**
 * The card holding `code` in this org, through the keyed HMAC index. The HMAC covers org and code,
 * so another org's code and an unknown one take the same path (one index probe, no row) and get the
 * same answer; the code itself is never stored, logged or echoed.
 */
export async function findCardByCode(env: Env, org: string, code: string): Promise<CardRow | null> {
  const hmac = await codeHmac(env, org, code.trim().toUpperCase());
  return env.DB.prepare(`SELECT ${COLUMNS} FROM cards c LEFT JOIN deliveries d ON d.id = c.delivery_id WHERE c.code_hmac = ?1 AND +c.org = ?2`)
    .bind(hmac, org)
    .first<CardRow>();
}

export const UNKNOWN_CODE = "No card with this code";

export interface CardFilter {
  status?: string;
  batch_id?: string;
  campaign_id?: string;
  recipient_email?: string;
  expiring_before?: string;
}

/** A card's delivery id: cards are issued as card_X for delivery dlv_X (src/delivery/rewards.ts `cardIdFor`). */
const deliveryIdOf = (cardId: string) => `dlv_${cardId.slice("card_".length)}`;

/**
 * One page of an org's cards, newest first. A card's id carries its delivery's (card_X for dlv_X),
 * so card order is delivery order: every search starts from the deliveries' indexes (org, batch or
 * recipient), and cards need no (org, id) index of their own, one index entry less per issued card.
 */
export async function cardPage(env: Env, org: string, f: CardFilter, limit: number, cursor?: string) {
  const before = cursor ? decodeCursor(cursor, "card") : undefined;
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `?${params.length}`;
  };
  let from = `deliveries d JOIN cards c ON c.id = ${cardIdSql("d.id")}`;
  if (f.recipient_email) {
    const email = f.recipient_email.trim().replaceAll(" ", "+");
    if (!isValidEmail(email)) {
      throw new AppError("validation_failed", "recipient_email is not an email address", {
        errors: [{ parameter: "recipient_email", code: "email_invalid", detail: "Give the whole address, e.g. ann@example.com" }],
      });
    }
    // A batch recipient by its email key, or a campaign reward's customer (its identity key is the
    // normalised email when it has one): both are a delivery's recipient row.
    const key = emailKey(email);
    const orgParam = p(org);
    from = `(SELECT r.id AS rid FROM batch_recipients r WHERE r.email_key = ${p(key)}
             UNION ALL SELECT o.id FROM campaign_outcomes o WHERE o.org = ${orgParam} AND o.customer_key = ${p(`email:${key}`)}) x
            JOIN deliveries d ON d.recipient_id = x.rid JOIN cards c ON c.id = ${cardIdSql("d.id")}`;
    where.push(`+d.org = ${orgParam}`);
  } else if (f.batch_id) {
    where.push(`d.batch_id = ${p(f.batch_id)}`, `+d.org = ${p(org)}`);
  } else {
    where.push(`d.org = ${p(org)}`, "d.card_id IS NOT NULL");
  }
  if (f.batch_id && f.recipient_email) where.push(`d.batch_id = ${p(f.batch_id)}`);
  // A campaign's id (`cmp_…`) picks its rewards; any other value is a batch's campaign label.
  if (f.campaign_id?.startsWith("cmp_")) where.push(`d.campaign_id = ${p(f.campaign_id)}`);
  else if (f.campaign_id) where.push(`d.batch_id IN (SELECT id FROM batches WHERE org = ${p(org)} AND campaign = ${p(f.campaign_id)})`);
  // `void` (a card replaced by a reissue, or reversed before the ledger) reads as reversed.
  if (f.status) where.push(f.status === "reversed" ? "c.status IN ('reversed', 'void')" : `c.status = ${p(f.status)}`);
  // The card's own expiry, or a bonus bucket's that still holds value (available or on hold): the
  // loss-aversion credit "gone by midnight" is what support and the CRM look for.
  if (f.expiring_before) {
    const at = p(f.expiring_before);
    where.push(`(c.expires_at < ${at} OR c.bonus_expires_at < ${at})`);
  }
  if (before) where.push(`d.id < ${p(deliveryIdOf(before))}`);
  const { results } = await env.DB.prepare(`SELECT ${COLUMNS} FROM ${from} WHERE ${where.join(" AND ")} ORDER BY d.id DESC LIMIT ${p(limit + 1)}`)
    .bind(...params)
    .all<CardRow>();
  const page = results.slice(0, limit);
  return { rows: page, next_cursor: results.length > limit ? encodeCursor("card", page.at(-1)!.id) : null };
}
