/**
 * Every hold id and operation id sent to a pool's Durable Object: the idempotency keys of money.
 * The pool answers a repeated operation id with its first result and refuses it with other
 * arguments, so each id below says when it is the same operation (a retry replays it) and when a
 * new attempt needs a new one (a refusal stored under an id would otherwise answer for ever).
 * The formats are stored in every pool's journal: change one only with a migration plan.
 */
import { sha256Hex } from "../core/crypto";
import { newId } from "../core/ids";
import type { Auth } from "../env";

/** The hold that carries a batch's reserved value, from submission until the batch ends. */
export const batchHoldId = (batchId: string) => `hold_${batchId}`;
export const isBatchHold = (holdId: string) => holdId.startsWith(batchHoldId("bat_"));
export const batchIdOfHold = (holdId: string) => holdId.slice(batchHoldId("").length);

/** A one-off hold for re-committing a delivery's value when support retries it (reconciliation names the exception from it). */
export const RETRY_HOLD_PREFIX = "hold_retry_";
export const retryHoldId = (exceptionId: string) => `${RETRY_HOLD_PREFIX}${exceptionId}`;

/** A one-off hold for a bonus credit onto a card, and the pool item the credit's value is committed under. */
export const creditHoldId = (creditId: string) => `credit:${creditId}`;
export const creditItemId = (creditId: string) => `credit:${creditId}`;

/**
 * The operation id of a fund or withdraw: from the caller's Idempotency-Key when given, scoped
 * like the key itself (org and token `sub`), so a retry after a lost response never moves money
 * twice and two people who pick the same key make two operations. Hashed: keys may be 255 chars.
 */
export async function moveOperationId(kind: "fund" | "withdraw", auth: Auth, key: string | undefined): Promise<string> {
  return key ? `${kind}:key:${await sha256Hex(`${auth.org}\n${auth.sub}\n${key}`)}` : newId("op");
}

/** A campaign's budget: its first hold, then one more per top-up (a hold cannot grow). */
export const campaignHoldId = (campaignId: string, n: number) => (n === 0 ? `hold_${campaignId}` : `hold_${campaignId}_${n}`);

/** A fresh id for an operation that must never replay an earlier one (a hold may be reopened since). */
const fresh = (prefix: string) => `${prefix}_${crypto.randomUUID()}`;

export const opIds = {
  /** Per attempt (the expiry differs): a refused reserve must not answer every later submit. */
  reserveBatchHold: (holdId: string, expiresAt: number) => `reserve_${holdId}_${expiresAt}`,
  /** Per content version: a resubmission with a smaller total shrinks the hold once. */
  resizeBatchHold: (holdId: string, contentVersion: number) => `resize_${holdId}_${contentVersion}`,
  /** Once per batch: every side exit (reject, cancel, expire) replays the first release. */
  releaseBatchHold: (holdId: string) => `release_${holdId}`,
  /** Fresh: a submit that lost a race gives its hold back, safe to repeat ("rest" of a closed hold is 0). */
  abandonBatchHold: (holdId: string) => fresh(`abandon_${holdId}`),
  /** Fresh: the orphan-hold sweep, run after run. */
  sweepOrphanHold: (holdId: string) => fresh(`sweep_${holdId}`),
  /** Once per batch: the rest of the hold when the last delivery settled. */
  endBatchHold: (batchId: string) => `batch-end:${batchId}`,
  /** Once per exception: resolving expired_hold_unreleased with cancel. */
  releaseForException: (exceptionId: string) => `resolve:${exceptionId}`,

  /** Once per delivery attempt: a redelivered consumer batch replays the refund. */
  refundFailedAttempt: (deliveryId: string, attempts: number) => `refund:${deliveryId}:a${attempts}`,
  /** Once per dead-lettering of a delivery. */
  refundDeadLettered: (deliveryId: string, attempts: number) => `refund:${deliveryId}:dlq${attempts}`,
  /** Once per exception resolution that gives the value back (retry of a reward that must be re-issued, or cancel). */
  refundForException: (item: string, cause: "retry" | "cancel", exceptionId: string) => `refund:${item}:${cause}:${exceptionId}`,
  /** Once per delivery: a retried reversal replays the first (also the end of its card by a reverse or a reissue). */
  reverseDelivery: (deliveryId: string) => `reverse:${deliveryId}`,
  /** Once per delivery and bonus bucket of its card. */
  reverseCardBonus: (deliveryId: string, bucketId: string) => `reverse:${deliveryId}:${bucketId}`,

  /** Per attempt (the expiry differs), under the retry hold. */
  retryReserve: (exceptionId: string, expiresAt: number) => `retry-reserve:${exceptionId}:${expiresAt}`,
  retryClose: (exceptionId: string) => `retry-close:${exceptionId}`,

  creditReserve: (creditId: string) => `credit-reserve:${creditId}`,
  creditRelease: (creditId: string) => `credit-release:${creditId}`,
  creditRefund: (creditId: string) => `credit-refund:${creditId}`,
  /** Fresh per attempt: a refused activation or top-up must not answer the next one (the hold id keeps it one hold). */
  reserveCampaignHold: (holdId: string) => `campaign-reserve:${holdId}:${crypto.randomUUID()}`,
  /** Once per reward: a rejected or failed reward's value goes back to its hold. */
  refundCampaignReward: (itemId: string) => `campaign-refund:${itemId}`,
  /** Once per hold: ending a campaign releases each hold's rest. */
  endCampaignHold: (holdId: string) => `campaign-end:${holdId}`,
  /** The card Durable Object's side of the same credit: adds the bonus bucket once. */
  cardCredit: (creditId: string) => `credit:${creditId}`,
};
