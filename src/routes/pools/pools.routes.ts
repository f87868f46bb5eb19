import { createRoute, z } from "@hono/zod-openapi";
import { BalanceSchema as PoolBalance, LimitsSchema } from "../../../durable-objects/pool-types";
import { IdParam, IdempotencyHeader, ListQuery, PlainText, json, jsonBody, page, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";
import { CurrencyCode } from "../../settings/settings.schema";

const Currency = z
  .string()
  .regex(/^[A-Z]{3}$/, "an ISO 4217 code such as USD")
  .openapi({ example: "USD", maxLength: 3 });
const Minor = z.number().int().min(0).openapi({ description: "Integer minor units (cents)" });

export const BalanceSchema = PoolBalance.openapi("PoolBalance", { description: "available + reserved + committed = funded − withdrawn, always" });

export const PoolSchema = z
  .object({
    id: z.string().openapi({ example: "pool_01jd3x..." }),
    name: z.string(),
    currency: Currency,
    limits: LimitsSchema,
    balance: BalanceSchema,
    created_by: z.string(),
    created_at: z.string(),
  })
  .openapi("Pool");

/** API.md: fund and withdraw answer "→ 200 balance": the pool, with its balance's buckets also at the top level. */
export const MovedFundsSchema = PoolSchema.extend(BalanceSchema.shape).openapi("PoolAfterMove");

const CreatePool = z.strictObject({ name: PlainText(200), currency: CurrencyCode, limits: LimitsSchema.optional() }).openapi("CreatePool");

const MoveFunds = z
  .strictObject({
    // Not `Amount`: past 2^53−1 the service answers the specific code amount_too_large, not validation_failed.
    amount: z.number().positive().refine(Number.isInteger, "Expected a whole number of minor units").openapi({
      type: "integer",
      format: "int64",
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      description: "Positive integer minor units, at most 2^53−1 (beyond: 400 amount_too_large)",
      example: 100000,
    }),
    reference: z.string().max(500).optional().openapi({ description: "Your reference, e.g. an invoice or transfer id" }),
    currency: Currency.optional().openapi({ description: "If given, must equal the pool's currency" }),
  })
  .openapi("MoveFunds");

export const LedgerEntrySchema = z
  .object({
    seq: z.number().int(),
    kind: z.enum(["fund", "withdraw", "reserve", "commit", "release", "expire", "reverse", "refund"]),
    amount: Minor,
    operation_id: z.string(),
    hold_id: z.string().nullable(),
    item_id: z.string().nullable(),
    items: z.array(z.string()).nullable().openapi({ description: "A commit entry's item (delivery) ids: one entry per commit call" }),
    before: BalanceSchema,
    after: BalanceSchema,
    actor: z.string(),
    reference: z.string().nullable(),
    created_at: z.string(),
  })
  .openapi("LedgerEntry");

const tags = ["Funding pools"];
const PoolId = IdParam("pool");

export const createPool = createRoute({
  method: "post",
  path: "/v1/pools",
  tags,
  summary: "Create a funding pool",
  ...protect(["admin", "finance"]),
  request: { headers: IdempotencyHeader, body: jsonBody(CreatePool) },
  responses: { 201: json(PoolSchema, "The new pool, balance zero"), ...problems(400, 401, 403, 409, 422) },
});

export const listPools = createRoute({
  method: "get",
  path: "/v1/pools",
  tags,
  summary: "List funding pools",
  ...protect("any"),
  request: { query: ListQuery },
  responses: { 200: json(page(PoolSchema), "Pools, newest first (balances from the D1 mirror)"), ...problems(400, 401, 403) },
});

export const getPool = createRoute({
  method: "get",
  path: "/v1/pools/{id}",
  tags,
  summary: "A pool with its live balance",
  ...protect("any"),
  request: { params: PoolId },
  responses: { 200: json(PoolSchema, "The pool"), ...problems(401, 403, 404) },
});

export const fundPool = createRoute({
  method: "post",
  path: "/v1/pools/{id}/fund",
  tags,
  summary: "Add funds to a pool",
  description:
    "Balances are integers of at most 2^53−1 minor units: an amount past that, or a fund that would take the pool's funded total past it, " +
    "is 400 amount_too_large and changes nothing. With an Idempotency-Key the pool operation belongs to the caller (org, token sub and key): " +
    "a retry never funds twice, and two people who send the same key make two fundings.",
  ...protect(["finance"]),
  request: { params: PoolId, headers: IdempotencyHeader, body: jsonBody(MoveFunds) },
  responses: { 200: json(MovedFundsSchema, "The pool after funding, its balance also at the top level"), ...problems(400, 401, 403, 404, 409, 422) },
});

export const withdrawPool = createRoute({
  method: "post",
  path: "/v1/pools/{id}/withdraw",
  tags,
  summary: "Withdraw available funds (never reserved or committed value)",
  description:
    "409 insufficient_funds beyond the available balance; an amount past 2^53−1 is 400 amount_too_large. " +
    "With an Idempotency-Key the pool operation belongs to the caller (org, token sub and key), as for fund.",
  ...protect(["finance"]),
  request: { params: PoolId, headers: IdempotencyHeader, body: jsonBody(MoveFunds) },
  responses: { 200: json(MovedFundsSchema, "The pool after the withdrawal, its balance also at the top level"), ...problems(400, 401, 403, 404, 409, 422) },
});

export const poolLedger = createRoute({
  method: "get",
  path: "/v1/pools/{id}/ledger",
  tags,
  summary: "Journal entries, newest first, each with the balance before and after",
  ...protect(["finance", "auditor"]),
  request: { params: PoolId, query: ListQuery },
  responses: { 200: json(page(LedgerEntrySchema), "Ledger entries"), ...problems(400, 401, 403, 404) },
});
