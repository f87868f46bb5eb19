import { env } from "cloudflare:workers";
import { newId } from "../../src/core/ids";
import { issueCards } from "../../src/delivery/rewards";
import { token } from "./api";

/**
 * Issues one card the way delivery does (D1 rows only: its Durable Object starts on first use), on a
 * bare delivery row without a batch. `expiresAt` overrides the expiry (e.g. in the past) before the
 * card is touched.
 */
export async function issueCard(org: string, amount = 10_000, opts: { currency?: string; expiresAt?: string | null; productId?: string } = {}) {
  const deliveryId = newId("dlv");
  const product = { id: opts.productId ?? "prd_test", kind: "stored_value" as const, currency: opts.currency ?? "USD", expiresAfterDays: null };
  const got = await issueCards(env, product, [{ id: deliveryId, org, amount, codeId: null, cardId: null }]);
  const reward = got.get(deliveryId)!;
  const now = new Date().toISOString();
  await env.DB.prepare(
    `INSERT INTO deliveries (id, org, batch_id, recipient_id, pool_id, product_id, channel, amount, currency, status, item, committed, card_id, masked_code, created_at, updated_at)
     VALUES (?1, ?2, 'bat_none', 'rcp_none', 'pool_none', ?3, 'link', ?4, ?5, 'delivered', ?1, 1, ?6, ?7, ?8, ?8)`,
  )
    .bind(deliveryId, org, product.id, amount, product.currency, reward.cardId, reward.masked, now)
    .run();
  if (opts.expiresAt !== undefined) await env.DB.prepare("UPDATE cards SET expires_at = ? WHERE id = ?").bind(opts.expiresAt, reward.cardId).run();
  return { cardId: reward.cardId!, code: reward.fresh!.code, deliveryId };
}

export async function cardTokens(org: string) {
  return {
    integrator: await token({ org, sub: "shop", roles: ["integrator"] }),
    finance: await token({ org, sub: "fran", roles: ["finance"] }),
    support: await token({ org, sub: "sue", roles: ["support"] }),
    auditor: await token({ org, sub: "aud", roles: ["auditor"] }),
    operator: await token({ org, sub: "otto", roles: ["operator"] }),
  };
}

export function cardStubOf(cardId: string) {
  return env.STORED_VALUE_CARD.get(env.STORED_VALUE_CARD.idFromName(cardId));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
