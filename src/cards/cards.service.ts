/**
 * Stored-value cards as the API shows them: detail (live, from the card's Durable Object), lists
 * (the D1 mirror), look-up by code, transactions, freeze and unfreeze. Codes are never returned:
 * only the masked form the delivery keeps.
 */
import { AppError } from "../core/errors";
import { sha256HexSync } from "../core/crypto";
import { newId } from "../core/ids";
import { decodeCursor, encodeCursor } from "../core/pagination";
import type { Auth, Env } from "../env";
import type { CardBalance, CardState, CardTxn } from "../../durable-objects/card-types";
import { UNKNOWN_CODE, cardError, cardPage, cardStub, findCardByCode, requireCard, seedOf, type CardFilter, type CardRow } from "./cards.store";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * The DO operation id of a request: from the Idempotency-Key when there is one (per caller, as the
 * middleware keys it), so a retry after a lost response replays the operation instead of repeating it.
 */
export function operationId(kind: string, auth: Auth, key: string | undefined): string {
  return key ? `${kind}:key:${sha256HexSync(`${auth.org}\n${auth.sub}\n${key}`).slice(0, 40)}` : newId("op");
}

export function balanceView(b: CardBalance) {
  return { available: b.available, pending: b.pending, redeemed: b.redeemed, expired: b.expired, reversed: b.reversed, issued: b.issued, credited: b.credited };
}

function summary(row: CardRow) {
  return {
    id: row.id,
    status: row.status === "void" ? ("reversed" as const) : row.status,
    currency: row.currency,
    masked_code: row.masked_code,
    product_id: row.product_id,
    delivery_id: row.delivery_id,
    batch_id: row.batch_id,
    campaign_id: row.campaign_id,
    pool_id: row.pool_id,
    expires_at: row.expires_at,
    created_at: row.created_at,
  };
}

export function txnView(t: CardTxn) {
  return {
    seq: t.seq,
    kind: t.kind,
    amount: t.amount,
    redemption_id: t.redemption_id,
    bucket_id: t.bucket_id,
    before: balanceView(t.before),
    after: balanceView(t.after),
    actor: t.actor,
    reference: t.reference,
    created_at: iso(t.created_at)!,
    hash: t.hash ?? null,
  };
}

/** A card with its live state from the authority. */
export function cardView(row: CardRow, state: CardState) {
  return {
    ...summary(row),
    status: state.status,
    balance: balanceView(state.balance),
    buckets: state.buckets.map((b) => ({
      id: b.id,
      kind: b.kind,
      amount: b.amount,
      remaining: b.remaining,
      pending: b.pending,
      expires_at: iso(b.expires_at),
      state: b.state,
    })),
  };
}

export async function getCard(env: Env, org: string, id: string) {
  const row = await requireCard(env, org, id);
  const detail = await cardStub(env, id).detail(seedOf(row), 20);
  return { ...cardView(row, detail.card), transactions: detail.transactions.map(txnView) };
}

/** POST /v1/cards/lookup: one answer for every code that is not this org's card (404, same words). */
export async function lookupCard(env: Env, org: string, code: string) {
  const row = await findCardByCode(env, org, normaliseCode(code));
  if (!row) throw new AppError("not_found", UNKNOWN_CODE);
  return getCard(env, org, row.id);
}

/** Codes are printed in groups (ABCDE-FGHJK-...); people type them in any case, with or without dashes. */
export function normaliseCode(code: string): string {
  const bare = code.replace(/[\s-]/g, "").toUpperCase();
  return bare.length === 25 ? bare.match(/.{5}/g)!.join("-") : code.trim();
}

export async function listCards(env: Env, org: string, f: CardFilter, limit: number, cursor?: string) {
  const { rows, next_cursor } = await cardPage(env, org, f, limit, cursor);
  return {
    data: rows.map((r) => ({
      ...summary(r),
      balance: {
        available: r.available,
        pending: r.pending,
        redeemed: r.redeemed,
        expired: r.expired,
        reversed: r.reversed,
        issued: r.initial_amount,
        credited: r.credited,
      },
    })),
    next_cursor,
  };
}

export async function cardTransactions(env: Env, org: string, id: string, limit: number, cursor?: string) {
  const row = await requireCard(env, org, id);
  const before = cursor ? Number(decodeCursor(cursor, "ctx")) : undefined;
  const txns = await cardStub(env, id).transactions(seedOf(row), limit + 1, before);
  const page = txns.slice(0, limit);
  return { data: page.map(txnView), next_cursor: txns.length > limit ? encodeCursor("ctx", page.at(-1)!.seq) : null };
}

export async function setFrozen(env: Env, auth: Auth, id: string, frozen: boolean, reason: string | undefined, key: string | undefined) {
  const row = await requireCard(env, auth.org, id);
  const args = { opId: operationId(frozen ? "freeze" : "unfreeze", auth, key), actor: auth.sub, ...(reason ? { reason } : {}) };
  const stub = cardStub(env, id);
  const r = frozen ? await stub.freeze(seedOf(row), args) : await stub.unfreeze(seedOf(row), args);
  if (!r.ok) throw cardError(r);
  return getCard(env, auth.org, id);
}
