/**
 * Funding pools as the API shows them: the D1 row describes the pool, its Durable Object holds
 * the balance (reached through pool-client.ts).
 */
import { and, desc, eq, lt } from "drizzle-orm";
import { appendAudit } from "../audit/audit";
import { AppError, notFound } from "../core/errors";
import { newId } from "../core/ids";
import { decodeCursor, encodeCursor } from "../core/pagination";
import { createDb } from "../db/client";
import { poolLedger, pools } from "../db/schema";
import type { Auth, Env } from "../env";
import { BUCKETS, zeroBalance, type Balance, type Limits } from "../../durable-objects/pool-types";
import { moveFunds, poolBalance } from "./pool-client";
import { syncPoolMirror } from "./ledger-reads";

export type PoolRow = typeof pools.$inferSelect;
export type LedgerKind = "fund" | "withdraw" | "reserve" | "commit" | "release" | "expire" | "reverse" | "refund";

export interface PoolView {
  id: string;
  name: string;
  currency: string;
  limits: Limits;
  balance: Balance;
  created_by: string;
  created_at: string;
}

export async function findPool(d1: D1Database, org: string, id: string): Promise<PoolRow | null> {
  const [row] = await createDb(d1)
    .select()
    .from(pools)
    .where(and(eq(pools.org, org), eq(pools.id, id)))
    .limit(1);
  return row ?? null;
}

export async function requirePool(d1: D1Database, org: string, id: string): Promise<PoolRow> {
  const row = await findPool(d1, org, id);
  if (!row) throw notFound("pool", id);
  return row;
}

function view(row: PoolRow, balance: Balance): PoolView {
  return {
    id: row.id,
    name: row.name,
    currency: row.currency,
    limits: JSON.parse(row.limits) as Limits,
    balance,
    created_by: row.createdBy,
    created_at: row.createdAt,
  };
}

const mirroredBalance = (r: PoolRow): Balance => Object.fromEntries(BUCKETS.map((b) => [b, r[b]])) as Balance;

export async function createPool(env: Env, auth: Auth, input: { name: string; currency: string; limits?: Limits }, requestId?: string): Promise<PoolView> {
  const now = new Date().toISOString();
  const row: PoolRow = {
    id: newId("pool"),
    org: auth.org,
    name: input.name,
    currency: input.currency,
    limits: JSON.stringify(input.limits ?? {}),
    ...zeroBalance(),
    journalSeq: 0,
    createdBy: auth.sub,
    createdAt: now,
    updatedAt: now,
  };
  const insert = createDb(env.DB).insert(pools).values(row);
  await appendAudit(
    env.DB,
    auth.org,
    [
      {
        actor: auth.sub,
        action: "pool.created",
        entityType: "pool",
        entityId: row.id,
        after: { name: row.name, currency: row.currency, limits: input.limits ?? {} },
        requestId,
      },
    ],
    [env.DB.prepare(insert.toSQL().sql).bind(...insert.toSQL().params)],
  );
  const balance = await poolBalance(env, row);
  return view(row, balance);
}

export async function getPool(env: Env, org: string, id: string): Promise<PoolView> {
  const row = await requirePool(env.DB, org, id);
  return view(row, await poolBalance(env, row));
}

export async function listPools(env: Env, org: string, limit: number, cursor?: string) {
  const after = cursor ? decodeCursor(cursor, "pool") : undefined;
  const rows = await createDb(env.DB)
    .select()
    .from(pools)
    .where(and(eq(pools.org, org), after ? lt(pools.id, after) : undefined))
    .orderBy(desc(pools.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  return {
    data: page.map((r) => view(r, mirroredBalance(r))),
    next_cursor: rows.length > limit ? encodeCursor("pool", page.at(-1)!.id) : null,
  };
}

/**
 * fund / withdraw: one DO operation, idempotent by `opId`, audited with the balance before and after.
 * An amount past 2^53−1, or a fund that would take the pool's funded total there, is 400
 * amount_too_large and changes nothing.
 */
export async function movePoolFunds(
  env: Env,
  auth: Auth,
  kind: "fund" | "withdraw",
  id: string,
  input: { amount: number; reference?: string; currency?: string },
  opId: string,
  requestId?: string,
): Promise<PoolView> {
  if (!Number.isSafeInteger(input.amount)) {
    throw new AppError("amount_too_large", `Amounts are at most ${Number.MAX_SAFE_INTEGER} minor units`, {
      errors: [{ pointer: "/amount", code: "amount_too_large", detail: `At most ${Number.MAX_SAFE_INTEGER}` }],
    });
  }
  const row = await requirePool(env.DB, auth.org, id);
  if (input.currency && input.currency !== row.currency) {
    throw new AppError("validation_failed", `The pool holds ${row.currency}`, {
      errors: [{ pointer: "/currency", code: "currency_mismatch", detail: `The pool holds ${row.currency}` }],
    });
  }
  const before = await poolBalance(env, row);
  const args = { opId, amount: input.amount, reference: input.reference, actor: auth.sub };
  const result = await moveFunds(env, id, kind, args);
  await appendAudit(env.DB, auth.org, [
    {
      actor: auth.sub,
      action: `pool.${kind === "fund" ? "funded" : "withdrawn"}`,
      entityType: "pool",
      entityId: id,
      before,
      after: { ...result.balance, amount: input.amount, reference: input.reference ?? null },
      requestId,
    },
  ]);
  return view(row, result.balance);
}

export async function ledgerPage(env: Env, org: string, id: string, limit: number, cursor?: string) {
  await requirePool(env.DB, org, id);
  await syncPoolMirror(env, id);
  const beforeSeq = cursor ? Number(decodeCursor(cursor, "ledger")) : undefined;
  const rows = await createDb(env.DB)
    .select()
    .from(poolLedger)
    .where(and(eq(poolLedger.poolId, id), beforeSeq ? lt(poolLedger.seq, beforeSeq) : undefined))
    .orderBy(desc(poolLedger.seq))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  return {
    data: page.map((r) => ({
      seq: r.seq,
      kind: r.kind as LedgerKind,
      amount: r.amount,
      operation_id: r.opId,
      hold_id: r.holdId,
      item_id: r.itemId,
      items: r.items ? (JSON.parse(r.items) as string[]) : null,
      before: JSON.parse(r.before) as Balance,
      after: JSON.parse(r.after) as Balance,
      actor: r.actor,
      reference: r.reference,
      created_at: r.createdAt,
    })),
    next_cursor: rows.length > limit ? encodeCursor("ledger", page.at(-1)!.seq) : null,
  };
}
