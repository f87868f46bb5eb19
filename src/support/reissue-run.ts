/**
 * Carrying out a reissue: the old reward is voided, a new delivery row points at the old one with a
 * new reward and the same pool item, and the new reward is sent (attempt kind `reissue`).
 *
 * - An inventory code stays assigned to the old delivery, marked void; the new code has the same
 *   value. The value was committed once and stays committed: the pool DO is not called.
 * - A stored-value card first ends in its Durable Object (pending holds voided, every unspent bucket
 *   reversed, operation id `reissue:<delivery id>`), and the new card holds only the old card's
 *   unspent base value: what was redeemed (or expired) stays spent, so a reissue never pays a
 *   card's value twice. The delivery's pool item stays committed whole (redeemed part on the old
 *   card, the rest on the new one); an unspent bonus credit goes back to its own pool, as in a
 *   reversal. A card with no unspent base value left is refused (409 `nothing_to_reissue`).
 */
import type { AuditInput } from "../audit/audit";
import { AppError } from "../core/errors";
import { isGuardFailure, requireChanged } from "../core/guard";
import { newId } from "../core/ids";
import { appendAudit } from "../audit/audit";
import { createReissue, retire } from "../delivery/delivery-state";
import { assignCodes, cardIdFor, issueCards } from "../delivery/rewards";
import { cardStub, findCard, seedOf } from "../cards/cards.store";
import { opIds } from "../pools/op-ids";
import { endCard } from "./card-reversal";
import type { Auth, Env } from "../env";
import { leaseDelivery, releaseLease, sendFacts, voidReward, type DeliveryRecord, type SendFacts } from "./delivery-store";
import { sendNow } from "./send-now";

const LEASE_MS = 60_000;

export interface ReissueContext {
  reason: string;
  requestId?: string;
  /** The open approval exception a finance user is confirming, resolved in the same transaction. */
  approval?: { exceptionId: string; requestedBy: string };
}

/** A new reward for the new delivery, or 409 when the inventory has none of this amount left. */
async function newReward(env: Env, d: DeliveryRecord, facts: SendFacts, id: string, amount: number): Promise<{ codeId: string | null; cardId: string | null }> {
  const need = { id, org: d.org, amount, codeId: null, cardId: null };
  if (facts.productKind === "inventory") {
    const got = await assignCodes(env, d.org, d.productId, [need]);
    const codeId = got.get(id)?.codeId;
    if (!codeId) throw new AppError("inventory_exhausted", `No ${facts.job.productName} code of ${d.amount} ${d.currency} is left to reissue with`);
    return { codeId, cardId: null };
  }
  const cards = await issueCards(env, { id: d.productId, kind: "stored_value", currency: d.currency, expiresAfterDays: facts.expiresAfterDays }, [need]);
  return { codeId: null, cardId: cards.get(id)?.cardId ?? cardIdFor(id) };
}

/** Gives back a reward taken for a reissue that did not happen. */
async function returnReward(env: Env, id: string): Promise<void> {
  await env.DB.batch([
    env.DB.prepare("UPDATE inventory_codes SET status = 'available', delivery_id = NULL, assigned_at = NULL WHERE delivery_id = ?").bind(id),
    env.DB.prepare("DELETE FROM cards WHERE id = ?").bind(cardIdFor(id)),
  ]);
}

export async function runReissue(env: Env, auth: Auth, deliveryId: string, ctx: ReissueContext): Promise<string> {
  const old = await leaseDelivery(env.DB, auth.org, deliveryId, ["delivered"], "a reissue");
  const id = newId("dlv");
  let reward: { codeId: string | null; cardId: string | null } | null = null;
  let facts: SendFacts;
  let amount: number;
  try {
    facts = await sendFacts(env.DB, old);
    amount = old.cardId ? await cardRemainder(env, auth, old) : old.amount;
    reward = await newReward(env, old, facts, id, amount);
    await replace(env, auth, old, id, amount, reward, ctx);
  } catch (err) {
    await releaseLease(env.DB, deliveryId).run();
    if (reward) await returnReward(env, id);
    if (isGuardFailure(err)) throw new AppError("conflict", `Delivery ${deliveryId} changed while it was being reissued; read it again`);
    throw err;
  }
  await sendNow(
    env,
    { ...facts.job, deliveryId: id, amount, codeId: reward.codeId, cardId: reward.cardId },
    {
      kind: "reissue",
      actor: auth.sub,
      batchId: old.batchId,
      campaignId: old.campaignId,
      requestId: ctx.requestId,
      committedOnFailure: 1,
    },
  );
  return id;
}

/**
 * Ends the old card and says what the new one carries: its unspent base value. A card whose base
 * value is spent is refused before anything changes (its bonus stays on it). The card's end has the
 * delivery's reversal operation id (`reverse:<delivery id>`, one per delivery whoever asks), so a
 * reissue whose D1 write failed after the card ended is finished by the next reissue, or undone into
 * the pool by a reverse: both replay the same end and find the same unspent base value.
 */
async function cardRemainder(env: Env, auth: Auth, old: DeliveryRecord): Promise<number> {
  const refuse = () =>
    new AppError("nothing_to_reissue", `Card ${old.cardId} has no unspent value left to reissue: it was redeemed or has expired`, {
      card_id: old.cardId,
    });
  const row = await findCard(env, old.org, old.cardId!);
  if (row && row.status !== "void") {
    const state = await cardStub(env, old.cardId!).expire(seedOf(row));
    const base = state.buckets.find((b) => b.kind === "base");
    if (state.status !== "reversed" && (base?.remaining ?? 0) + (base?.pending ?? 0) === 0) throw refuse();
  }
  const end = await endCard(env, old.org, old.id, old.cardId!, {
    opId: opIds.reverseDelivery(old.id),
    actor: auth.sub,
    reference: `reissue of delivery ${old.id}`,
  });
  if (end.base === 0) throw refuse();
  return end.base;
}

/** One transaction: the new row (leased until its send is recorded), the old one reissued and its reward void. */
async function replace(
  env: Env,
  auth: Auth,
  old: DeliveryRecord,
  id: string,
  amount: number,
  reward: { codeId: string | null; cardId: string | null },
  ctx: ReissueContext,
) {
  const now = new Date();
  const at = now.toISOString();
  const d1 = env.DB;
  const insert = createReissue(d1, { id, old, amount, reward, leaseUntil: new Date(now.getTime() + LEASE_MS).toISOString(), at });
  const stmts = [retire(d1, old.id, id, at), requireChanged(d1), insert, ...voidReward(d1, old, at)];
  if (ctx.approval) {
    stmts.push(
      d1
        .prepare(
          `UPDATE exceptions SET status = 'resolved', resolution = 'approved', note = ?2, resolved_by = ?3, resolved_at = ?4, updated_at = ?4
         WHERE id = ?1 AND status = 'open'`,
        )
        .bind(ctx.approval.exceptionId, ctx.reason, auth.sub, at),
      requireChanged(d1),
    );
  }
  const approvedBy = ctx.approval ? { requested_by: ctx.approval.requestedBy, approved_by: auth.sub } : {};
  const events: AuditInput[] = [
    {
      actor: auth.sub,
      action: "delivery.reissued",
      entityType: "delivery",
      entityId: old.id,
      requestId: ctx.requestId,
      before: { status: "delivered", masked_code: old.maskedCode },
      after: { status: "reissued", reissued_as: id, reason: ctx.reason, reward_voided: true, ...approvedBy },
    },
    {
      actor: auth.sub,
      action: "delivery.created",
      entityType: "delivery",
      entityId: id,
      requestId: ctx.requestId,
      after: { status: "sending", reissue_of: old.id, batch_id: old.batchId, amount, currency: old.currency, item: old.item, ...approvedBy },
    },
  ];
  if (ctx.approval) {
    events.push({
      actor: auth.sub,
      action: "exception.resolved",
      entityType: "exception",
      entityId: ctx.approval.exceptionId,
      requestId: ctx.requestId,
      after: { resolution: "approved", note: ctx.reason },
    });
  }
  await appendAudit(d1, auth.org, events, stmts);
}
