/**
 * Redemption at checkout. The card's Durable Object decides (balance, holds, duplicate references);
 * these functions find the card, pass the request on and shape the answer. Lists read the D1 mirror.
 */
import { AppError } from "../core/errors";
import { decodeCursor, encodeCursor } from "../core/pagination";
import type { Auth, Env } from "../env";
import type { CardState, Redemption, RedemptionStatus } from "../../durable-objects/card-types";
import { balanceView, normaliseCode, operationId } from "./cards.service";
import { UNKNOWN_CODE, cardError, cardStub, findCardByCode, requireCard, seedOf, type CardRow } from "./cards.store";

export const DEFAULT_HOLD_SECONDS = 3600;
export const MAX_HOLD_SECONDS = 30 * 86_400;

export interface RedeemInput {
  code?: string;
  card_id?: string;
  amount: number;
  currency: string;
  reference: string;
  capture?: boolean;
  hold_seconds?: number;
  allow_partial?: boolean;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function redemptionView(cardId: string, currency: string, r: Redemption, card?: CardState) {
  return {
    id: r.id,
    card_id: cardId,
    status: r.status,
    amount: r.amount,
    requested: r.requested,
    captured: r.captured,
    refunded: r.refunded,
    currency,
    reference: r.reference,
    hold_expires_at: iso(r.hold_expires_at),
    created_at: iso(r.created_at)!,
    updated_at: iso(r.updated_at)!,
    ...(card ? { card: { id: cardId, status: card.status, balance: balanceView(card.balance) } } : {}),
  };
}

async function cardFor(env: Env, org: string, input: { code?: string; card_id?: string }): Promise<CardRow> {
  if (input.card_id) return requireCard(env, org, input.card_id);
  const row = await findCardByCode(env, org, normaliseCode(input.code ?? ""));
  if (!row) throw new AppError("not_found", UNKNOWN_CODE);
  return row;
}

export async function redeem(env: Env, auth: Auth, input: RedeemInput, key: string | undefined) {
  const capture = input.capture ?? true;
  if (capture && input.hold_seconds !== undefined) {
    throw new AppError("validation_failed", "hold_seconds applies to a pending redemption (capture: false)", {
      errors: [{ pointer: "/hold_seconds", code: "not_allowed", detail: "Send capture: false to hold value" }],
    });
  }
  const row = await cardFor(env, auth.org, input);
  const holdExpiresAt = capture ? null : Date.now() + (input.hold_seconds ?? DEFAULT_HOLD_SECONDS) * 1000;
  const r = await cardStub(env, row.id).redeem(seedOf(row), {
    opId: operationId("redeem", auth, key),
    amount: input.amount,
    currency: input.currency,
    reference: input.reference,
    capture,
    holdExpiresAt,
    allowPartial: input.allow_partial ?? false,
    actor: auth.sub,
  });
  if (!r.ok) throw cardError(r);
  return redemptionView(row.id, row.currency, r.redemption, r.card);
}

interface RedemptionRow {
  id: string;
  card_id: string;
  reference: string;
  status: RedemptionStatus;
  currency: string;
  requested: number;
  amount: number;
  captured: number;
  refunded: number;
  hold_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

async function requireRedemption(env: Env, org: string, id: string): Promise<RedemptionRow> {
  const row = await env.DB.prepare("SELECT * FROM redemptions WHERE org = ? AND id = ?").bind(org, id).first<RedemptionRow>();
  if (!row) throw new AppError("not_found", `No redemption with id ${id}`);
  return row;
}

export type SettleKind = "capture" | "void" | "refund";

/** capture / void / refund of a redemption, on its card's Durable Object. */
export async function settle(env: Env, auth: Auth, kind: SettleKind, id: string, amount: number | undefined, key: string | undefined) {
  const red = await requireRedemption(env, auth.org, id);
  const card = await requireCard(env, auth.org, red.card_id);
  const stub = cardStub(env, card.id);
  const base = { opId: operationId(kind, auth, key), redemptionId: id, actor: auth.sub };
  const seed = seedOf(card);
  const r =
    kind === "capture"
      ? await stub.capture(seed, { ...base, ...(amount !== undefined ? { amount } : {}) })
      : kind === "refund"
        ? await stub.refund(seed, { ...base, ...(amount !== undefined ? { amount } : {}) })
        : await stub.void(seed, base);
  if (!r.ok) throw cardError(r);
  return redemptionView(card.id, card.currency, r.redemption, r.card);
}

export async function listRedemptions(env: Env, org: string, f: { card_id?: string; reference?: string }, limit: number, cursor?: string) {
  const before = cursor ? decodeCursor(cursor, "rdm") : undefined;
  const where = ["org = ?1"];
  const params: unknown[] = [org];
  const p = (v: unknown) => {
    params.push(v);
    return `?${params.length}`;
  };
  if (f.card_id) where.push(`card_id = ${p(f.card_id)}`);
  if (f.reference) where.push(`reference = ${p(f.reference)}`);
  if (before) where.push(`id < ${p(before)}`);
  const { results } = await env.DB.prepare(
    `SELECT id, card_id, reference, status, currency, requested, amount, captured, refunded, hold_expires_at, created_at, updated_at
     FROM redemptions WHERE ${where.join(" AND ")} ORDER BY id DESC LIMIT ${p(limit + 1)}`,
  )
    .bind(...params)
    .all<RedemptionRow>();
  const page = results.slice(0, limit);
  return { data: page, next_cursor: results.length > limit ? encodeCursor("rdm", page.at(-1)!.id) : null };
}
