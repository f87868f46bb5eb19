/** Batches: creation with checked references and reads (cancel: cancel.ts, submit: submit.ts, release: release.ts). */
import { and, desc, eq, lt, sql } from "drizzle-orm";
import { appendAudit } from "../audit/audit";
import { findProduct } from "../catalog/products.service";
import { AppError, notFound, type FieldError } from "../core/errors";
import { newId } from "../core/ids";
import { decodeCursor, encodeCursor } from "../core/pagination";
import { NEXT_BATCH_REF } from "../db/batch-ref";
import { createDb } from "../db/client";
import { batches } from "../db/schema";
import type { Auth, Env } from "../env";
import { findPool } from "../pools/pools.service";
import { getSettings } from "../settings/settings.service";
import type { BatchRow, BatchStatus } from "./batch-state";

export interface BatchInput {
  name: string;
  campaign: string;
  business_owner: string;
  cost_center: string;
  expected_delivery_date: string;
  expected_count: number;
  pool_id: string;
  product_id: string;
  channel: "email" | "sms" | "link";
  release_at?: string;
}

export function batchView(b: BatchRow) {
  return {
    id: b.id,
    status: b.status as BatchStatus,
    name: b.name,
    campaign: b.campaign,
    business_owner: b.businessOwner,
    cost_center: b.costCenter,
    expected_delivery_date: b.expectedDeliveryDate,
    expected_count: b.expectedCount,
    pool_id: b.poolId,
    product_id: b.productId,
    channel: b.channel,
    currency: b.currency,
    release_at: b.releaseAt,
    counts: { total: b.rowsTotal, valid: b.validCount, invalid: b.invalidCount, excluded: b.excludedCount },
    totals: { valid_amount: b.validTotal, currency: b.currency },
    content_version: b.contentVersion,
    upload_in_progress: b.uploadingId !== null && (b.uploadingUntil ?? "") > new Date().toISOString(),
    created_by: b.createdBy,
    created_at: b.createdAt,
    updated_at: b.updatedAt,
  };
}
export type BatchView = ReturnType<typeof batchView>;

export async function findBatch(d1: D1Database, org: string, id: string): Promise<BatchRow | null> {
  const [row] = await createDb(d1)
    .select()
    .from(batches)
    .where(and(eq(batches.org, org), eq(batches.id, id)))
    .limit(1);
  return row ?? null;
}

export async function requireBatch(d1: D1Database, org: string, id: string): Promise<BatchRow> {
  const row = await findBatch(d1, org, id);
  if (!row) throw notFound("batch", id);
  return row;
}

/** Pool and product must be the org's own and agree on a currency the org allows. */
async function checkReferences(env: Env, org: string, input: BatchInput): Promise<string> {
  const [pool, product, settings] = await Promise.all([
    findPool(env.DB, org, input.pool_id),
    findProduct(env.DB, org, input.product_id),
    getSettings(env.DB, org),
  ]);
  const errors: FieldError[] = [];
  if (!pool) errors.push({ pointer: "/pool_id", code: "unknown_pool", detail: `No pool ${input.pool_id} in this org` });
  if (!product) errors.push({ pointer: "/product_id", code: "unknown_product", detail: `No product ${input.product_id} in this org` });
  if (pool && product && pool.currency !== product.currency) {
    errors.push({ pointer: "/product_id", code: "currency_mismatch", detail: `The product is in ${product.currency}, the pool in ${pool.currency}` });
  }
  if (pool && settings.allowed_currencies && !settings.allowed_currencies.includes(pool.currency)) {
    errors.push({ pointer: "/pool_id", code: "currency_not_allowed", detail: `${pool.currency} is not an allowed currency (settings)` });
  }
  if (input.release_at && Date.parse(input.release_at) <= Date.now()) {
    errors.push({ pointer: "/release_at", code: "in_past", detail: "release_at must be in the future" });
  }
  if (errors.length) throw new AppError("validation_failed", errors.map((e) => e.detail).join("; "), { errors });
  return pool!.currency;
}

export async function createBatch(env: Env, auth: Auth, input: BatchInput, requestId?: string) {
  const currency = await checkReferences(env, auth.org, input);
  const now = new Date().toISOString();
  const row: typeof batches.$inferInsert = {
    id: newId("bat"),
    org: auth.org,
    name: input.name,
    campaign: input.campaign,
    businessOwner: input.business_owner,
    costCenter: input.cost_center,
    expectedDeliveryDate: input.expected_delivery_date,
    expectedCount: input.expected_count,
    poolId: input.pool_id,
    productId: input.product_id,
    channel: input.channel,
    currency,
    releaseAt: input.release_at ? new Date(input.release_at).toISOString() : null,
    status: "draft",
    createdBy: auth.sub,
    createdAt: now,
    updatedAt: now,
  };
  const insert = createDb(env.DB)
    .insert(batches)
    .values({ ...row, ref: sql.raw(NEXT_BATCH_REF) })
    .toSQL();
  await appendAudit(
    env.DB,
    auth.org,
    [{ actor: auth.sub, action: "batch.created", entityType: "batch", entityId: row.id!, after: { ...input, status: "draft", currency }, requestId }],
    [env.DB.prepare(insert.sql).bind(...insert.params)],
  );
  return batchView(await requireBatch(env.DB, auth.org, row.id!));
}

export async function listBatches(d1: D1Database, org: string, opts: { limit: number; cursor?: string; status?: BatchStatus }) {
  const after = opts.cursor ? decodeCursor(opts.cursor, "bat") : undefined;
  const rows = await createDb(d1)
    .select()
    .from(batches)
    .where(and(eq(batches.org, org), opts.status ? eq(batches.status, opts.status) : undefined, after ? lt(batches.id, after) : undefined))
    .orderBy(desc(batches.id))
    .limit(opts.limit + 1);
  const page = rows.slice(0, opts.limit);
  return { data: page.map(batchView), next_cursor: rows.length > opts.limit ? encodeCursor("bat", page.at(-1)!.id) : null };
}
