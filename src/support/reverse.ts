/**
 * Reverse: void an unredeemed reward and give its value back to the pool (committed → available).
 * Rewards cannot be redeemed through Rewardrail yet, so every delivered reward counts as unredeemed;
 * when card redemption arrives, a card whose balance is below its initial amount must be refused here.
 *
 * The pool operation id is derived from the delivery id, so a retry after a lost response (or a
 * crash between the pool call and the D1 write) replays the same reversal instead of doing another.
 */
import { appendAudit } from "../audit/audit";
import { AppError } from "../core/errors";
import { reverse } from "../delivery/delivery-state";
import { poolError, poolStub } from "../pools/pools.service";
import type { Auth, Env } from "../env";
import { deliveryDetail } from "./delivery-detail";
import { leaseDelivery, releaseLease, voidReward } from "./delivery-store";
import { resolvedEvent, resolveStatements } from "../exceptions/exception-writes";
import { REISSUE_APPROVAL_KIND } from "./reissue";

export const reverseOpId = (deliveryId: string) => `reverse:${deliveryId}`;

async function stillCommitted(env: Env, poolId: string, item: string): Promise<boolean> {
  const [disagreeing] = await poolStub(env, poolId).itemsDisagreeing(JSON.stringify([[item, 0, "reversed"]]));
  return disagreeing?.state === "committed";
}

export async function reverseDelivery(env: Env, auth: Auth, id: string, reason: string, requestId?: string) {
  const d = await leaseDelivery(env.DB, auth.org, id, ["delivered"], "a reversal");
  try {
    const redeemed = d.cardId
      ? await env.DB.prepare("SELECT balance < initial_amount AS spent FROM cards WHERE id = ?").bind(d.cardId).first<{ spent: number }>()
      : null;
    if (redeemed?.spent) throw new AppError("invalid_state_transition", `The card of delivery ${id} has been (partly) redeemed; it cannot be reversed`);
    const res = await poolStub(env, d.poolId).reverse({ opId: reverseOpId(id), itemId: d.item, actor: auth.sub, reference: `reversal of delivery ${id}` });
    if (!res.ok && res.code !== "operation_id_reused") throw poolError(res);
    // The same operation id with other arguments: an earlier request of this reversal (by someone
    // else) reached the pool. It moved the value only if the item is no longer committed there.
    if (!res.ok && (await stillCommitted(env, d.poolId, d.item))) {
      throw new AppError("conflict", `An earlier reversal of delivery ${id} was refused by the pool and its value is still committed; see the pool's ledger`);
    }
    const now = new Date().toISOString();
    const update = reverse(env.DB, id, `reversed by ${auth.sub}${reason ? `: ${reason}` : ""}`.slice(0, 500), now);
    // A reissue still waiting for finance's confirmation has nothing left to reissue.
    const { results: waiting } = await env.DB.prepare("SELECT id FROM exceptions WHERE org = ? AND entity_id = ? AND kind = ? AND status = 'open'")
      .bind(auth.org, id, REISSUE_APPROVAL_KIND).all<{ id: string }>();
    const note = "withdrawn: the delivery was reversed";
    const withdrawn = waiting.map((w) => ({ id: w.id, kind: REISSUE_APPROVAL_KIND, entityId: id }));
    await appendAudit(env.DB, auth.org, [{
      actor: auth.sub, action: "delivery.reversed", entityType: "delivery", entityId: id, requestId,
      before: { status: "delivered", masked_code: d.maskedCode },
      after: { status: "reversed", reason, amount: d.amount, currency: d.currency, pool_id: d.poolId, reward_voided: true, pool_balance: res.ok ? res.balance : null },
    }, ...withdrawn.map((exc) => resolvedEvent(auth, exc, "cancel", note, requestId))],
    [update, ...voidReward(env.DB, d, now), ...withdrawn.flatMap((exc) => resolveStatements(env.DB, exc, "cancel", note, auth.sub, now))]);
  } catch (err) {
    await releaseLease(env.DB, id).run();
    throw err;
  }
  return deliveryDetail(env, auth, id);
}
