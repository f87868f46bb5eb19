import { callJson, token } from "./api";

/** Creates a pool through the API (and funds it when `fund` > 0); returns its id and the tokens used. */
export async function createPool(org: string, opts: { currency?: string; fund?: number; limits?: Record<string, number> } = {}) {
  const finance = await token({ org, sub: "fran", roles: ["finance"] });
  const created = await callJson("/v1/pools", {
    token: finance,
    body: { name: "Q4 rewards", currency: opts.currency ?? "USD", ...(opts.limits ? { limits: opts.limits } : {}) },
  });
  if (created.status !== 201) throw new Error(`pool create failed: ${created.status} ${JSON.stringify(created.body)}`);
  const id = created.body.id as string;
  if (opts.fund) {
    const funded = await callJson(`/v1/pools/${id}/fund`, { token: finance, body: { amount: opts.fund, reference: "seed" } });
    if (funded.status !== 200) throw new Error(`fund failed: ${funded.status} ${JSON.stringify(funded.body)}`);
  }
  return { id, finance };
}
