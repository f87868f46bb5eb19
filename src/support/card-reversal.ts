/**
 * Ending a stored-value card for a support action (reverse, reissue): its Durable Object voids
 * pending holds and reverses every unspent bucket, saying how much came from the base value and
 * from each bonus credit; each bonus credit's part goes back to that credit's pool item here. What
 * the caller does with the base part differs: a reversal gives it back to the delivery's pool item,
 * a reissue puts it on the new card (the item stays committed).
 */
import { cardError, cardStub, findCard, seedOf } from "../cards/cards.store";
import type { Env } from "../env";
import { reverseCardBonus } from "../pools/delivery-value";
import { creditItemId } from "../pools/op-ids";

export interface CardEnd {
  /** Everything the card gave up: base and bonus. */
  reversed: number;
  /** The base value's unspent part. */
  base: number;
}

export async function endCard(
  env: Env,
  org: string,
  deliveryId: string,
  cardId: string,
  op: { opId: string; actor: string; reference: string },
): Promise<CardEnd> {
  const row = await findCard(env, org, cardId);
  if (!row) return { reversed: 0, base: 0 };
  const r = await cardStub(env, cardId).reverse(seedOf(row), op);
  if (!r.ok) throw cardError(r);
  for (const p of r.parts.filter((x) => x.kind === "bonus" && x.pool_id)) {
    await reverseCardBonus(env, p.pool_id!, {
      deliveryId,
      bucketId: p.bucket_id,
      item: creditItemId(p.bucket_id.slice("bonus:".length)),
      amount: p.amount,
      actor: op.actor,
      reference: `${op.reference}: bonus on card ${cardId}`,
    });
  }
  return { reversed: r.reversed, base: r.parts.find((x) => x.kind === "base")?.amount ?? 0 };
}
