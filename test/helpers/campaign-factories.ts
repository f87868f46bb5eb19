import { env } from "cloudflare:workers";
import { callJson, token } from "./api";
import { createProduct } from "./batch-factories";
import { createPool } from "./factories";

export async function campaignTokens(org: string) {
  return {
    admin: await token({ org, sub: "ada", roles: ["admin"] }),
    operator: await token({ org, sub: "otto", roles: ["operator"] }),
    finance: await token({ org, sub: "fran", roles: ["finance"] }),
    integrator: await token({ org, sub: "shop", roles: ["integrator"] }),
    support: await token({ org, sub: "sue", roles: ["support"] }),
  };
}

/** A funded pool and a stored-value product in one org, and a campaign body factory over them. */
export async function campaignSetup(org: string, fund = 1_000_000) {
  const tokens = await campaignTokens(org);
  const pool = await createPool(org, { fund });
  const productId = await createProduct(tokens.admin, { kind: "stored_value", min_amount: 100, max_amount: 100_000 });
  const body = (extra: Record<string, unknown> = {}) => ({
    name: "Order thanks",
    trigger: { event: "order.paid" },
    reward: { product_id: productId, channel: "email", amount: 1000 },
    pool_id: pool.id,
    budget: { amount: 100_000 },
    ...extra,
  });
  return { org, tokens, poolId: pool.id, productId, body, stub: env.FUNDING_POOL.get(env.FUNDING_POOL.idFromName(pool.id)) };
}

/** Creates and activates a campaign; returns its id. */
export async function activeCampaign(setup: Awaited<ReturnType<typeof campaignSetup>>, extra: Record<string, unknown> = {}): Promise<string> {
  const created = await callJson("/v1/campaigns", { token: setup.tokens.operator, body: setup.body(extra) });
  if (created.status !== 201) throw new Error(`campaign create failed: ${created.status} ${JSON.stringify(created.body)}`);
  const activated = await callJson(`/v1/campaigns/${created.body.id}/activate`, { method: "POST", token: setup.tokens.finance });
  if (activated.status !== 200) throw new Error(`activate failed: ${activated.status} ${JSON.stringify(activated.body)}`);
  return created.body.id;
}

let seq = 0;
export function orderPaid(
  extra: { id?: string; total?: number; email?: string; external_id?: string; occurred_at?: string; customer?: Record<string, unknown> } = {},
) {
  seq += 1;
  return {
    id: extra.id ?? `evt-${crypto.randomUUID()}`,
    type: "order.paid",
    occurred_at: extra.occurred_at ?? new Date().toISOString(),
    customer: {
      external_id: extra.external_id ?? `cust-${seq}-${crypto.randomUUID().slice(0, 6)}`,
      email: extra.email ?? `c${seq}-${crypto.randomUUID().slice(0, 6)}@example.com`,
      country: "US",
      ...extra.customer,
    },
    properties: { total: extra.total ?? 10_000 },
  };
}

export function postEvent(integrator: string, event: unknown) {
  return callJson("/v1/events", { token: integrator, body: event });
}
