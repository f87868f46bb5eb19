/**
 * Retrying a failed or held delivery after its batch has ended, or a campaign reward's, and sending
 * it at once. A value still committed (a held delivery) stays committed: a retry that cannot get a
 * reward (no inventory code yet) gives back only what it committed itself. A value that was refunded
 * (a failed send) is committed again from where the refund put it:
 * - a campaign that has not ended: from the campaign's holds, through the same race-free claim as
 *   its events (src/pools/campaign-budget.ts), so a retry never pays outside the budget (409
 *   `insufficient_funds` when the budget is spent: top it up first);
 * - an ended batch or campaign (its holds closed, their rest back in the pool): through a retry hold
 *   of its own — reserved from available, the item committed, the hold closed.
 * Pool operation ids derive from the exception id and the attempt: a retry of this resolution after a
 * crash replays the same reservation and commit instead of paying twice, and each attempt's refund
 * is its own. If the send fails, the value is refunded and a new exception opens.
 */
import { AppError } from "../core/errors";
import { valueCommitted, valueReturned } from "../delivery/delivery-state";
import { assignCodes, cardIdFor, issueCards } from "../delivery/rewards";
import type { Auth, Env } from "../env";
import { campaignRef, requireCampaign } from "../campaigns/campaigns.service";
import { claimCampaignRewards } from "../pools/campaign-budget";
import { commitOneOff, refundDelivery } from "../pools/delivery-value";
import { opIds, retryHoldId } from "../pools/op-ids";
import { releaseLease, sendFacts, type DeliveryRecord, type SendFacts } from "./delivery-store";
import { resolvedEvent, resolveStatements } from "../exceptions/exception-writes";
import type { ExceptionRecord } from "../exceptions/exceptions.query";
import { sendNow } from "./send-now";
import type { SendOutcome } from "../delivery/send";

const RETRY_HOLD_MS = 3_600_000;

/** Commits the value again; returns the attempt's key (its refund's operation id names it). */
async function commitAgain(env: Env, auth: Auth, exc: ExceptionRecord, d: DeliveryRecord, recipientKey: string | null): Promise<string> {
  const expiresAt = Date.now() + RETRY_HOLD_MS;
  const c = d.campaignId ? await requireCampaign(env.DB, d.org, d.campaignId) : null;
  if (c && c.status !== "ended") {
    const res = await claimCampaignRewards(env, campaignRef(c), {
      caps: {},
      items: [{ id: d.item, amount: d.amount, customerKey: recipientKey ?? "", customerPeriod: null, campaignPeriod: null }],
    });
    const o = res.items[0]!;
    if (o.status === "rejected") {
      throw new AppError("insufficient_funds", `Campaign ${c.id}'s budget cannot pay this reward again (${o.detail}); top it up, then retry`);
    }
    await valueCommitted(env.DB, d.id).run();
    return String(expiresAt);
  }
  // The operation id is one per attempt, so a refusal stored under it (insufficient_funds) is not
  // answered again once the pool is funded; the hold id keeps the attempts one commit.
  await commitOneOff(env, d.poolId, {
    holdId: retryHoldId(exc.id),
    reserveOpId: opIds.retryReserve(exc.id, expiresAt),
    closeOpId: opIds.retryClose(exc.id),
    item: { id: d.item, amount: d.amount, recipientKey: recipientKey ?? "" },
    expiresAt,
    actor: auth.sub,
  });
  await valueCommitted(env.DB, d.id).run();
  return String(expiresAt);
}

/** The delivery's reward: the one it has, or a new code / card (a freed code went back to the inventory). */
async function rewardFor(env: Env, d: DeliveryRecord, facts: SendFacts): Promise<{ codeId: string | null; cardId: string | null }> {
  if (d.codeId || d.cardId) return { codeId: d.codeId, cardId: d.cardId };
  const need = { id: d.id, org: d.org, amount: d.amount, codeId: null, cardId: null };
  if (facts.productKind === "inventory") {
    const codeId = (await assignCodes(env, d.org, d.productId, [need])).get(d.id)?.codeId;
    if (!codeId) throw new AppError("inventory_exhausted", `No ${facts.job.productName} code of ${d.amount} ${d.currency} is left`);
    return { codeId, cardId: null };
  }
  const cards = await issueCards(env, { id: d.productId, kind: "stored_value", currency: d.currency, expiresAfterDays: facts.expiresAfterDays }, [need]);
  return { codeId: null, cardId: cards.get(d.id)?.cardId ?? cardIdFor(d.id) };
}

async function refund(env: Env, exc: ExceptionRecord, d: DeliveryRecord, attempt: string, actor: string): Promise<void> {
  await refundDelivery(env, d.poolId, d.item, { kind: "exception", action: "retry", exceptionId: `${exc.id}:${attempt}` }, actor);
  await valueReturned(env.DB, d.id).run();
}

/** `d` is leased by the caller; the lease ends with the recorded outcome (or the error). */
export async function redeliverNow(env: Env, auth: Auth, exc: ExceptionRecord, d: DeliveryRecord, note: string | null, requestId?: string): Promise<void> {
  let reward: { codeId: string | null; cardId: string | null };
  let facts: SendFacts;
  try {
    facts = await sendFacts(env.DB, d);
    const committedHere = d.committed ? null : await commitAgain(env, auth, exc, d, facts.recipientKey);
    try {
      reward = await rewardFor(env, d, facts);
    } catch (err) {
      if (committedHere) await refund(env, exc, d, committedHere, auth.sub);
      throw err;
    }
  } catch (err) {
    await releaseLease(env.DB, d.id).run();
    throw err;
  }
  const at = new Date().toISOString();
  const setReward = env.DB.prepare("UPDATE deliveries SET code_id = ?2, card_id = ?3, updated_at = ?4 WHERE id = ?1").bind(
    d.id,
    reward.codeId,
    reward.cardId,
    at,
  );
  let outcome: SendOutcome;
  try {
    outcome = await sendNow(
      env,
      { ...facts.job, codeId: reward.codeId, cardId: reward.cardId },
      {
        kind: "send",
        actor: auth.sub,
        batchId: d.batchId,
        campaignId: d.campaignId,
        requestId,
        committedOnFailure: 1,
        extra: [...resolveStatements(env.DB, exc, "retry", note, auth.sub, at), setReward],
        events: [resolvedEvent(auth, exc, "retry", note, requestId)],
      },
    );
  } catch (err) {
    await releaseLease(env.DB, d.id).run();
    throw err;
  }
  if (!outcome.result.ok) await refund(env, exc, d, `send:${Date.now()}`, auth.sub);
}
