/**
 * Bonus value: a credit is spend like any reward, so it is committed from a funding pool first
 * (reserve, then commit, under operation ids derived from the credit's id) and only then added to
 * the card as a bonus bucket (operation id derived from it too). A retry with the same credit id
 * replays every step instead of paying twice. If the card refuses after the pool committed (it was
 * reversed or expired meanwhile), the pool's item is refunded. Expired bonus value is breakage: it
 * stays committed in the pool and never returns.
 */
import { sha256HexSync } from "../core/crypto";
import { AppError } from "../core/errors";
import { newId } from "../core/ids";
import { commitOneOff, refundCredit } from "../pools/delivery-value";
import { creditHoldId, creditItemId, opIds } from "../pools/op-ids";
import { requirePool } from "../pools/pools.service";
import type { Auth, Env } from "../env";
import { cardError, cardStub, requireCard, seedOf } from "./cards.store";
import { getCard } from "./cards.service";

/** How long the pool hold of a credit may stay open: it is committed at once. */
const CREDIT_HOLD_MS = 3_600_000;

export interface CreditInput {
  amount: number;
  pool_id: string;
  expires_at?: string;
  reason: string;
}

export async function creditCard(env: Env, auth: Auth, cardId: string, input: CreditInput, key: string | undefined) {
  const creditId = key ? `crd_${sha256HexSync(`${auth.org}\n${auth.sub}\n${key}`).slice(0, 32)}` : newId("crd");
  const card = await requireCard(env, auth.org, cardId);
  const pool = await requirePool(env.DB, auth.org, input.pool_id);
  if (pool.currency !== card.currency) throw new AppError("currency_mismatch", `The pool holds ${pool.currency}; the card ${card.currency}`);
  const expiresAt = input.expires_at ? Date.parse(input.expires_at) : null;
  if (expiresAt !== null && expiresAt <= Date.now()) {
    throw new AppError("validation_failed", "expires_at must be in the future", {
      errors: [{ pointer: "/expires_at", code: "too_small", detail: "Give a future time" }],
    });
  }
  const seed = seedOf(card);
  const stub = cardStub(env, cardId);
  const { card: state } = await stub.detail(seed, 0);
  if (state.status === "reversed") throw new AppError("card_reversed", "The card has been reversed");
  if (state.status === "expired") throw new AppError("card_expired", "The card has expired");

  // A retry reaches the hold its first attempt made (its expiry differs, so the replay is refused as reused).
  await commitOneOff(env, pool.id, {
    holdId: creditHoldId(creditId),
    reserveOpId: opIds.creditReserve(creditId),
    closeOpId: opIds.creditRelease(creditId),
    item: { id: creditItemId(creditId), amount: input.amount, recipientKey: cardId },
    expiresAt: Date.now() + CREDIT_HOLD_MS,
    actor: auth.sub,
    reference: `bonus for card ${cardId}`,
  });

  const r = await stub.credit(seed, {
    opId: opIds.cardCredit(creditId),
    creditId,
    amount: input.amount,
    poolId: pool.id,
    expiresAt,
    reason: input.reason,
    actor: auth.sub,
  });
  if (!r.ok) {
    await refundCredit(env, pool.id, creditId, creditItemId(creditId), auth.sub, `card ${cardId} refused the credit: ${r.code}`);
    throw cardError(r);
  }
  return { ...(await getCard(env, auth.org, cardId)), credit: { id: creditId, bucket_id: r.bucket_id, amount: input.amount, pool_id: pool.id } };
}
