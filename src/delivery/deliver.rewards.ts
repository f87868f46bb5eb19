/** Gives every claimed delivery its reward (in memory: `code_id`, `card_id`), or reports it when the inventory has run out. */
import type { Env } from "../env";
import type { Claimed, DeliveryContext } from "./deliver.load";
import { assignCodes, issueCards, type Reward } from "./rewards";

export async function obtainRewards(env: Env, ctx: DeliveryContext, claimed: Claimed[], onExhausted: (c: Claimed, detail: string) => void): Promise<Claimed[]> {
  const needs = claimed.filter((c) => !c.code_id && !c.card_id).map((c) => ({ id: c.id, org: ctx.org, amount: c.amount, codeId: null, cardId: null }));
  if (needs.length === 0) return claimed;
  let got: Map<string, Reward>;
  if (ctx.productKind === "inventory") {
    // A delivery that got a code in a crashed attempt finds it here rather than taking another.
    const { results } = await env.DB.prepare("SELECT id, delivery_id FROM inventory_codes WHERE delivery_id IN (SELECT value FROM json_each(?))")
      .bind(JSON.stringify(needs.map((n) => n.id)))
      .all<{ id: string; delivery_id: string }>();
    got = new Map(results.map((r) => [r.delivery_id, { deliveryId: r.delivery_id, codeId: r.id, masked: "" }]));
    const fresh = await assignCodes(
      env,
      ctx.org,
      ctx.productId,
      needs.filter((n) => !got.has(n.id)),
    );
    for (const [k, v] of fresh) got.set(k, v);
  } else {
    got = await issueCards(env, { id: ctx.productId, kind: ctx.productKind, currency: ctx.currency, expiresAfterDays: ctx.expiresAfterDays }, needs);
    // A card made by an earlier (crashed) attempt was kept by INSERT OR IGNORE: use the stored one.
    const kept = needs.filter((n) => !got.has(n.id)).map((n) => n.id);
    if (kept.length > 0) {
      const { results } = await env.DB.prepare("SELECT id, delivery_id FROM cards WHERE delivery_id IN (SELECT value FROM json_each(?))")
        .bind(JSON.stringify(kept))
        .all<{ id: string; delivery_id: string }>();
      for (const r of results) got.set(r.delivery_id, { deliveryId: r.delivery_id, cardId: r.id, masked: "" });
    }
  }
  // The delivery row learns its code or card when its outcome is recorded (deliver.ts, one write
  // per row): until then a redelivery finds the reward above, by delivery id.
  return claimed.filter((c) => {
    if (c.code_id || c.card_id) return true;
    const r = got.get(c.id);
    if (!r) {
      onExhausted(c, `No ${ctx.productName} code of ${c.amount} ${ctx.currency} is left in the inventory`);
      return false;
    }
    c.code_id = r.codeId ?? null;
    c.card_id = r.cardId ?? null;
    c.fresh = r.fresh;
    return true;
  });
}
