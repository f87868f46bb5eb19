/**
 * A reward's value in its pool: committed from a hold when it is sent, refunded when a delivery
 * fails for good or an exception gives it back, reversed when finance voids it. The item id is
 * the delivery's `item` (kept across reissues); every operation id comes from op-ids.ts.
 */
import type { Env } from "../env";
import type { CommitInput, ItemOutcome, PoolFailure } from "../../durable-objects/pool-types";
import { opIds } from "./op-ids";
import { poolError, poolStub, unwrap } from "./pool-client";

type PoolEnv = Pick<Env, "FUNDING_POOL">;

/**
 * Commits many deliveries from one hold in one call (the delivery consumer). A refusal of the whole
 * call comes back as a failure; a refusal of single items (a limit) comes back in `items`.
 */
export function commitDeliveries(env: PoolEnv, poolId: string, holdId: string, items: CommitInput["items"], actor: string) {
  return poolStub(env, poolId).commit({ holdId, items, actor });
}

/** Why a delivery's committed value goes back to its hold or the pool's available balance. */
export type RefundCause =
  | { kind: "failed_attempt"; deliveryId: string; attempts: number }
  | { kind: "dead_lettered"; deliveryId: string; attempts: number }
  | { kind: "exception"; action: "retry" | "cancel"; exceptionId: string };

function refundOpId(item: string, cause: RefundCause): string {
  switch (cause.kind) {
    case "failed_attempt":
      return opIds.refundFailedAttempt(cause.deliveryId, cause.attempts);
    case "dead_lettered":
      return opIds.refundDeadLettered(cause.deliveryId, cause.attempts);
    case "exception":
      return opIds.refundForException(item, cause.action, cause.exceptionId);
  }
}

/**
 * Refunds a delivery's committed value for `cause`; the amount refunded, 0 when the pool no longer
 * holds it as committed (refunded or reversed already). Other refusals throw.
 */
export async function refundDelivery(env: PoolEnv, poolId: string, item: string, cause: RefundCause, actor: string): Promise<number> {
  const res = await poolStub(env, poolId).refund({ opId: refundOpId(item, cause), itemId: item, actor });
  if (res.ok) return res.amount;
  if (res.code === "item_not_committed") return 0;
  throw poolError(res);
}

/**
 * Reverses a delivered reward's value (all of it, or `amount` of it: a card's unspent base value).
 * A failure is returned, not thrown: `operation_id_reused` needs the caller's judgement.
 */
export function reverseDeliveryValue(env: PoolEnv, poolId: string, r: { deliveryId: string; item: string; amount?: number; actor: string; reference: string }) {
  return poolStub(env, poolId).reverse({
    opId: opIds.reverseDelivery(r.deliveryId),
    itemId: r.item,
    actor: r.actor,
    reference: r.reference,
    ...(r.amount !== undefined ? { amount: r.amount } : {}),
  });
}

/** Reverses the part of a card's bonus credit still on the card when its delivery is reversed; a replay or an item no longer committed is fine. */
export async function reverseCardBonus(
  env: PoolEnv,
  poolId: string,
  r: { deliveryId: string; bucketId: string; item: string; amount: number; actor: string; reference: string },
): Promise<void> {
  const res = await poolStub(env, poolId).reverse({
    opId: opIds.reverseCardBonus(r.deliveryId, r.bucketId),
    itemId: r.item,
    amount: r.amount,
    actor: r.actor,
    reference: r.reference,
  });
  if (!res.ok && !["operation_id_reused", "item_not_committed"].includes((res as PoolFailure).code)) throw poolError(res as PoolFailure);
}

/** One item committed through a one-off hold: reserve, commit, release the rest. */
export interface OneOffCommit {
  holdId: string;
  reserveOpId: string;
  closeOpId: string;
  item: { id: string; amount: number; recipientKey: string };
  expiresAt: number;
  actor: string;
  reference?: string;
}

/**
 * Commits one item outside any batch hold (support's retry of a refunded delivery, a bonus credit
 * onto a card). The hold id makes it idempotent: an interrupted earlier attempt's hold is reused
 * (the reserve answers hold_exists, or operation_id_reused when its expiry differed). A refused
 * item closes the hold and throws.
 */
export async function commitOneOff(env: PoolEnv, poolId: string, c: OneOffCommit): Promise<void> {
  const stub = poolStub(env, poolId);
  const reserved = await stub.reserve({
    opId: c.reserveOpId,
    holdId: c.holdId,
    amount: c.item.amount,
    expiresAt: c.expiresAt,
    actor: c.actor,
    reference: c.reference,
  });
  if (!reserved.ok && !(reserved.code === "hold_exists" || (reserved.code === "operation_id_reused" && (await stub.getHold(c.holdId)))))
    throw poolError(reserved);
  const committed = unwrap(await stub.commit({ holdId: c.holdId, actor: c.actor, items: [c.item] }));
  await stub.release({ opId: c.closeOpId, holdId: c.holdId, amount: "rest", actor: c.actor });
  const item = committed.items[0] as ItemOutcome;
  if (item.status === "rejected") throw poolError({ ok: false, code: item.code, detail: item.detail });
}

/** Gives back a bonus credit's committed value when the card refused the credit after the pool committed it. */
export async function refundCredit(env: PoolEnv, poolId: string, creditId: string, item: string, actor: string, reference: string): Promise<void> {
  await poolStub(env, poolId).refund({ opId: opIds.creditRefund(creditId), itemId: item, actor, reference });
}
