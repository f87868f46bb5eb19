/**
 * Arguments and results of the FundingPool Durable Object's RPC methods. The same zod schemas
 * validate what routes send and what the DO accepts, so the two cannot drift.
 */
import { z } from "zod";

/** Money: integer minor units, 1 to 2^53−1 (a 64-bit integer in the OpenAPI document). */
export const Amount = z.number().int().positive().max(Number.MAX_SAFE_INTEGER).meta({ format: "int64" });
const OpId = z.string().min(1).max(200);
const Actor = z.string().min(1).max(200);

export const LimitsSchema = z
  .strictObject({
    max_hold_amount: Amount.optional(),
    daily_commit_limit: Amount.optional(),
    recipient_daily_limit: Amount.optional(),
  })
  .describe("Spend limits, in minor units: per hold, per UTC day for the pool, per recipient per UTC day");
export type Limits = z.infer<typeof LimitsSchema>;

export const InitArgs = z.strictObject({
  poolId: z.string().min(1),
  org: z.string().min(1),
  currency: z.string().regex(/^[A-Z]{3}$/),
  limits: LimitsSchema.default({}),
});
export const FundArgs = z.strictObject({ opId: OpId, amount: Amount, reference: z.string().max(500).optional(), actor: Actor });
export const ReserveArgs = z.strictObject({
  opId: OpId,
  holdId: z.string().min(1).max(200),
  amount: Amount,
  expiresAt: z.number().int().positive(),
  reference: z.string().max(500).optional(),
  actor: Actor,
  /**
   * A hold of this id that ended without committing anything (released or expired) is reserved
   * again instead of refused with hold_exists: a batch's hold id is fixed, and a batch whose earlier
   * submission was abandoned must be able to submit again.
   */
  reopen: z.boolean().optional(),
});
export const CommitItem = z.strictObject({ id: z.string().min(1).max(200), amount: Amount, recipientKey: z.string().max(500).default("") });
export const CommitArgs = z.strictObject({ holdId: z.string().min(1), items: z.array(CommitItem).min(1).max(1000), actor: Actor });
/** A campaign cap: at most `count` rewards and/or `amount` in total per period window. */
const CapLimit = z.strictObject({ count: z.number().int().positive().optional(), amount: Amount.optional() });
/**
 * One campaign reward to claim: the customer it counts for and the period windows it falls in (the
 * caller turns the event's occurred_at into window keys, e.g. "day:2026-12-07"); a null window means
 * that cap does not exist.
 */
export const CampaignClaimItem = z.strictObject({
  id: z.string().min(1).max(200),
  amount: Amount,
  customerKey: z.string().max(500),
  customerPeriod: z.string().max(100).nullable(),
  campaignPeriod: z.string().max(100).nullable(),
});
export const CampaignClaimArgs = z.strictObject({
  campaignId: z.string().min(1).max(200),
  /** The campaign's holds, oldest first: each reward commits from the first with room. */
  holdIds: z.array(z.string().min(1).max(200)).min(1).max(100),
  actor: Actor,
  caps: z.strictObject({ perCustomer: CapLimit.optional(), perCampaign: CapLimit.optional() }),
  /** Once the holds have committed this much (the campaign's pause threshold), later rewards are refused with `threshold_reached`. */
  stopAt: z.number().int().nonnegative().optional(),
  items: z.array(CampaignClaimItem).min(1).max(1000),
});
export const ReleaseArgs = z.strictObject({
  opId: OpId,
  holdId: z.string().min(1),
  amount: z.union([Amount, z.literal("rest")]),
  actor: Actor,
  reference: z.string().max(500).optional(),
  /** Release only if nobody reserved, reopened or touched the hold for this long (ms); else `hold_busy`. */
  idleMs: z.number().int().positive().optional(),
});
/** `amount`: part of the item (a card's unspent remainder); the rest stays committed. Default: all of it. */
export const ReverseArgs = z.strictObject({
  opId: OpId,
  itemId: z.string().min(1),
  actor: Actor,
  reference: z.string().max(500).optional(),
  amount: Amount.optional(),
});
/** Undoes a commit whose reward never reached anyone: back to its hold while the hold is pending, else to available. */
export const RefundArgs = z.strictObject({ opId: OpId, itemId: z.string().min(1), actor: Actor, reference: z.string().max(500).optional() });

export type FundInput = z.input<typeof FundArgs>;
export type ReserveInput = z.input<typeof ReserveArgs>;
export type CommitInput = z.input<typeof CommitArgs>;
export type ReleaseInput = z.input<typeof ReleaseArgs>;
export type ReverseInput = z.input<typeof ReverseArgs>;
export type RefundInput = z.input<typeof RefundArgs>;
export type InitInput = z.input<typeof InitArgs>;
export type CampaignClaimInput = z.input<typeof CampaignClaimArgs>;

/**
 * A pool's balance, defined once: the DO's type, the API's schema (src/routes/pools) and the D1
 * mirror's columns (src/db/schema/pools.ts) all derive from these buckets.
 * Invariant: available + reserved + committed = funded − withdrawn, and no bucket is negative.
 */
export const BUCKETS = ["available", "reserved", "committed", "funded", "released", "reversed", "withdrawn"] as const;
export type Bucket = (typeof BUCKETS)[number];
const BucketAmount = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).meta({ format: "int64", description: "Integer minor units (cents)" });
export const BalanceSchema = z.object(Object.fromEntries(BUCKETS.map((b) => [b, BucketAmount])) as Record<Bucket, typeof BucketAmount>);
export type Balance = z.infer<typeof BalanceSchema>;
/** A new pool's balance: every bucket 0. */
export const zeroBalance = (): Balance => Object.fromEntries(BUCKETS.map((b) => [b, 0])) as Balance;

export type HoldState = "pending" | "posted" | "released" | "expired";
export interface Hold {
  hold_id: string;
  amount: number;
  remaining: number;
  committed: number;
  released: number;
  state: HoldState;
  expires_at: number;
}

export type PoolErrorCode =
  | "not_initialized"
  | "invalid_argument"
  | "insufficient_funds"
  | "limit_exceeded"
  | "operation_id_reused"
  | "hold_exists"
  | "hold_not_found"
  | "hold_not_active"
  | "hold_busy"
  | "amount_too_large"
  | "item_not_found"
  | "item_not_committed";

export interface PoolFailure {
  ok: false;
  code: PoolErrorCode;
  detail: string;
}
export type PoolResult<T extends object = object> = ({ ok: true; balance: Balance; currency: string } & T) | PoolFailure;

export type ItemOutcome = { id: string; status: "committed" | "already_committed" } | { id: string; status: "rejected"; code: PoolErrorCode; detail: string };

/** What a campaign claim decided about one reward; `holdId` says which hold carries a committed one. */
export type CampaignItemOutcome =
  | { id: string; status: "committed" | "already_committed"; holdId: string; amount: number }
  | { id: string; status: "rejected"; code: "customer_cap" | "campaign_cap" | "threshold_reached" | PoolErrorCode; detail: string };

export function fail(code: PoolErrorCode, detail: string): PoolFailure {
  return { ok: false, code, detail };
}
