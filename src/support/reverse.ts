/**
 * Reverse: void a reward and give its unspent value back to the pool (committed → available).
 * An inventory code gives back its whole value. A stored-value card gives back only what is left
 * on it: its Durable Object voids pending holds and reverses every unspent bucket, saying how much
 * came from the base value (back to the delivery's pool item, partially) and from each bonus
 * credit (back to that credit's pool item); what was redeemed or has expired stays committed.
 *
 * Operation ids are derived from the delivery id, so a retry after a lost response (or a crash
 * between the calls and the D1 write) replays the same reversal instead of doing another.
 */
import { appendAudit } from "../audit/audit";
import { AppError } from "../core/errors";
import { reverse } from "../delivery/delivery-state";
import { reverseDeliveryValue } from "../pools/delivery-value";
import { itemStillCommitted } from "../pools/ledger-reads";
import { opIds } from "../pools/op-ids";
import { poolError } from "../pools/pool-client";
import type { Auth, Env } from "../env";
import { endCard } from "./card-reversal";
import { deliveryDetail } from "./delivery-detail";
import { leaseDelivery, releaseLease, voidReward } from "./delivery-store";
import { resolvedEvent, resolveStatements } from "../exceptions/exception-writes";
import { REISSUE_APPROVAL_KIND } from "./reissue";

export async function reverseDelivery(env: Env, auth: Auth, id: string, reason: string, requestId?: string) {
  const d = await leaseDelivery(env.DB, auth.org, id, ["delivered"], "a reversal");
  let card: { reversed: number; base: number } | null = null;
  try {
    card = d.cardId
      ? await endCard(env, auth.org, id, d.cardId, { opId: opIds.reverseDelivery(id), actor: auth.sub, reference: `reversal of delivery ${id}` })
      : null;
    const res =
      card?.base === 0
        ? { ok: true as const, balance: null }
        : await reverseDeliveryValue(env, d.poolId, {
            deliveryId: id,
            item: d.item,
            actor: auth.sub,
            reference: `reversal of delivery ${id}`,
            ...(card ? { amount: card.base } : {}),
          });
    if (!res.ok && res.code !== "operation_id_reused") throw poolError(res);
    // The same operation id with other arguments: an earlier request of this reversal (by someone
    // else) reached the pool. It moved the value only if the item is no longer committed there.
    if (!res.ok && (await itemStillCommitted(env, d.poolId, d.item))) {
      throw new AppError("conflict", `An earlier reversal of delivery ${id} was refused by the pool and its value is still committed; see the pool's ledger`);
    }
    const now = new Date().toISOString();
    const update = reverse(env.DB, id, `reversed by ${auth.sub}${reason ? `: ${reason}` : ""}`.slice(0, 500), now);
    // A reissue still waiting for finance's confirmation has nothing left to reissue.
    const { results: waiting } = await env.DB.prepare("SELECT id FROM exceptions WHERE org = ? AND entity_id = ? AND kind = ? AND status = 'open'")
      .bind(auth.org, id, REISSUE_APPROVAL_KIND)
      .all<{ id: string }>();
    const note = "withdrawn: the delivery was reversed";
    const withdrawn = waiting.map((w) => ({ id: w.id, kind: REISSUE_APPROVAL_KIND, entityId: id }));
    await appendAudit(
      env.DB,
      auth.org,
      [
        {
          actor: auth.sub,
          action: "delivery.reversed",
          entityType: "delivery",
          entityId: id,
          requestId,
          before: { status: "delivered", masked_code: d.maskedCode },
          after: {
            status: "reversed",
            reason,
            amount: d.amount,
            currency: d.currency,
            pool_id: d.poolId,
            reward_voided: true,
            pool_balance: res.ok ? res.balance : null,
            ...(card ? { card_id: d.cardId, reversed_amount: card.reversed, kept: d.amount - card.base } : {}),
          },
        },
        ...withdrawn.map((exc) => resolvedEvent(auth, exc, "cancel", note, requestId)),
      ],
      [update, ...voidReward(env.DB, d, now), ...withdrawn.flatMap((exc) => resolveStatements(env.DB, exc, "cancel", note, auth.sub, now))],
    );
  } catch (err) {
    await releaseLease(env.DB, id).run();
    throw err;
  }
  const detail = await deliveryDetail(env, auth, id);
  return { ...detail, reversal: { amount: card ? card.reversed : d.amount, currency: d.currency, card_id: d.cardId ?? null } };
}
