/** Products of the catalog: what a batch pays out (inventory codes or stored-value cards). */
import { and, desc, eq, lt } from "drizzle-orm";
import { appendAudit } from "../audit/audit";
import { AppError, notFound } from "../core/errors";
import { newId } from "../core/ids";
import { decodeCursor, encodeCursor } from "../core/pagination";
import { createDb } from "../db/client";
import { products } from "../db/schema";
import type { Auth, Env } from "../env";

export type ProductRow = typeof products.$inferSelect;

export interface ProductInput {
  name: string;
  kind: "inventory" | "stored_value";
  currency: string;
  min_amount: number;
  max_amount: number;
  countries: string[];
  expires_after_days?: number;
}

export interface ProductView extends ProductInput {
  id: string;
  expires_after_days: number | undefined;
  created_by: string;
  created_at: string;
}

export function productView(r: ProductRow): ProductView {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    currency: r.currency,
    min_amount: r.minAmount,
    max_amount: r.maxAmount,
    countries: JSON.parse(r.countries) as string[],
    expires_after_days: r.expiresAfterDays ?? undefined,
    created_by: r.createdBy,
    created_at: r.createdAt,
  };
}

export async function findProduct(d1: D1Database, org: string, id: string): Promise<ProductRow | null> {
  const [row] = await createDb(d1)
    .select()
    .from(products)
    .where(and(eq(products.org, org), eq(products.id, id)))
    .limit(1);
  return row ?? null;
}

export async function requireProduct(d1: D1Database, org: string, id: string): Promise<ProductRow> {
  const row = await findProduct(d1, org, id);
  if (!row) throw notFound("product", id);
  return row;
}

export async function createProduct(env: Env, auth: Auth, input: ProductInput, requestId?: string): Promise<ProductView> {
  if (input.min_amount > input.max_amount) {
    throw new AppError("validation_failed", "min_amount is above max_amount", {
      errors: [{ pointer: "/min_amount", code: "range", detail: "min_amount must not exceed max_amount" }],
    });
  }
  const row: ProductRow = {
    id: newId("prd"),
    org: auth.org,
    name: input.name,
    kind: input.kind,
    currency: input.currency,
    minAmount: input.min_amount,
    maxAmount: input.max_amount,
    countries: JSON.stringify([...new Set(input.countries)].sort()),
    expiresAfterDays: input.expires_after_days ?? null,
    createdBy: auth.sub,
    createdAt: new Date().toISOString(),
  };
  const insert = createDb(env.DB).insert(products).values(row).toSQL();
  const view = productView(row);
  await appendAudit(
    env.DB,
    auth.org,
    [{ actor: auth.sub, action: "product.created", entityType: "product", entityId: row.id, after: view, requestId }],
    [env.DB.prepare(insert.sql).bind(...insert.params)],
  );
  return view;
}

export async function listProducts(d1: D1Database, org: string, limit: number, cursor?: string) {
  const after = cursor ? decodeCursor(cursor, "prd") : undefined;
  const rows = await createDb(d1)
    .select()
    .from(products)
    .where(and(eq(products.org, org), after ? lt(products.id, after) : undefined))
    .orderBy(desc(products.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  return { data: page.map(productView), next_cursor: rows.length > limit ? encodeCursor("prd", page.at(-1)!.id) : null };
}
