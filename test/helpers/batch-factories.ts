import { callJson, token } from "./api";
import { createPool } from "./factories";

/** Tokens of one org, one per role the batch tests use. */
export async function orgTokens(org: string) {
  return {
    admin: await token({ org, sub: "ada", roles: ["admin"] }),
    operator: await token({ org, sub: "otto", roles: ["operator"] }),
    finance: await token({ org, sub: "fran", roles: ["finance"] }),
    support: await token({ org, sub: "sue", roles: ["support"] }),
    auditor: await token({ org, sub: "aud", roles: ["auditor"] }),
  };
}

export interface ProductOptions {
  kind?: "inventory" | "stored_value";
  currency?: string;
  min_amount?: number;
  max_amount?: number;
  countries?: string[];
}

export async function createProduct(adminToken: string, opts: ProductOptions = {}) {
  const res = await callJson("/v1/products", {
    token: adminToken,
    body: {
      name: "Gift card",
      kind: opts.kind ?? "inventory",
      currency: opts.currency ?? "USD",
      min_amount: opts.min_amount ?? 500,
      max_amount: opts.max_amount ?? 50_000,
      countries: opts.countries ?? ["US", "CA", "GB"],
    },
  });
  if (res.status !== 201) throw new Error(`product create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

export function batchBody(poolId: string, productId: string, extra: Record<string, unknown> = {}) {
  return {
    name: "Holiday thanks",
    campaign: "holiday-2026",
    business_owner: "Dana Owner",
    cost_center: "CC-1001",
    expected_delivery_date: "2026-12-15",
    expected_count: 10,
    pool_id: poolId,
    product_id: productId,
    channel: "email",
    ...extra,
  };
}

/** An org with a funded pool, a product and a draft batch, through the API. */
export async function seedBatch(org: string, opts: { fund?: number; product?: ProductOptions; batch?: Record<string, unknown> } = {}) {
  const tokens = await orgTokens(org);
  const pool = await createPool(org, { fund: opts.fund ?? 1_000_000, currency: opts.product?.currency });
  const productId = await createProduct(tokens.admin, opts.product);
  const res = await callJson("/v1/batches", { token: tokens.operator, body: batchBody(pool.id, productId, opts.batch) });
  if (res.status !== 201) throw new Error(`batch create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { tokens, poolId: pool.id, productId, batchId: res.body.id as string };
}

export function uploadCsv(batchId: string, tokenValue: string, csv: string | Uint8Array, headers: Record<string, string> = {}) {
  return callJson(`/v1/batches/${batchId}/recipients`, {
    token: tokenValue,
    rawBody: csv,
    headers: { "content-type": "text/csv", ...headers },
    method: "POST",
  });
}
