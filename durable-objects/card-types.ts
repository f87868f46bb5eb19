/**
 * Arguments, results and refusals of the stored-value card Durable Object. The same zod schemas
 * validate every RPC argument, so a caller cannot slip a malformed operation past the ledger.
 */
import { z } from "zod";

export const Amount = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const OpId = z.string().min(1).max(300);
const Actor = z.string().min(1).max(200);
const Time = z.number().int().nonnegative();

/** What the DO needs to initialise itself from the card's D1 row on first use (issuance makes no DO call). */
export const CardSeed = z.strictObject({
  cardId: z.string().min(1).max(100),
  org: z.string().min(1).max(200),
  currency: z.string().regex(/^[A-Z]{3}$/),
  initialAmount: Amount,
  expiresAt: Time.nullable(),
  createdAt: Time,
  /** The D1 row says `void` (reissued, or reversed before cards had a ledger): the card starts reversed. */
  voided: z.boolean(),
});
export type CardSeed = z.infer<typeof CardSeed>;

export const RedeemArgs = z.strictObject({
  opId: OpId,
  amount: Amount,
  currency: z.string().regex(/^[A-Z]{3}$/),
  reference: z.string().min(1).max(200),
  capture: z.boolean(),
  holdExpiresAt: Time.nullable(),
  allowPartial: z.boolean(),
  actor: Actor,
});
export const CaptureArgs = z.strictObject({ opId: OpId, redemptionId: z.string().min(1).max(100), amount: Amount.optional(), actor: Actor });
export const VoidArgs = z.strictObject({ opId: OpId, redemptionId: z.string().min(1).max(100), actor: Actor });
export const RefundArgs = z.strictObject({ opId: OpId, redemptionId: z.string().min(1).max(100), amount: Amount.optional(), actor: Actor });
export const CreditArgs = z.strictObject({
  opId: OpId,
  creditId: z.string().min(1).max(200),
  amount: Amount,
  poolId: z.string().min(1).max(100),
  expiresAt: Time.nullable(),
  reason: z.string().max(500),
  /** The transaction's reference when it is not the reason (a campaign's credit names its event). */
  reference: z.string().min(1).max(200).optional(),
  actor: Actor,
});
export const FlagArgs = z.strictObject({ opId: OpId, actor: Actor, reason: z.string().max(500).optional() });
export const ReverseArgs = z.strictObject({ opId: OpId, actor: Actor, reference: z.string().max(500) });

export type RedeemInput = z.input<typeof RedeemArgs>;
export type CaptureInput = z.input<typeof CaptureArgs>;
export type VoidInput = z.input<typeof VoidArgs>;
export type RefundInput = z.input<typeof RefundArgs>;
export type CreditInput = z.input<typeof CreditArgs>;
export type FlagInput = z.input<typeof FlagArgs>;
export type ReverseInput = z.input<typeof ReverseArgs>;

export const CARD_STATUSES = ["active", "frozen", "expired", "reversed", "exhausted"] as const;
export type CardStatus = (typeof CARD_STATUSES)[number];

/** issued + credited = available + pending + redeemed + expired + reversed, always. */
export interface CardBalance {
  available: number;
  pending: number;
  redeemed: number;
  expired: number;
  reversed: number;
  issued: number;
  credited: number;
}

export type BucketState = "active" | "expired" | "reversed";
/** amount = remaining + held + spent + expired + reversed, always. */
export interface Bucket {
  bucket_id: string;
  ord: number;
  kind: "base" | "bonus";
  amount: number;
  remaining: number;
  held: number;
  spent: number;
  expired: number;
  reversed: number;
  expires_at: number | null;
  state: BucketState;
  pool_id: string | null;
  reason: string | null;
  created_at: number;
}

/** Where a redemption's value came from, bucket by bucket (earliest expiry first). */
export interface Part {
  b: string;
  held: number;
  captured: number;
  refunded: number;
}

export const REDEMPTION_STATUSES = ["pending", "captured", "voided", "expired", "refunded"] as const;
export type RedemptionStatus = (typeof REDEMPTION_STATUSES)[number];

export interface Redemption {
  id: string;
  reference: string;
  status: RedemptionStatus;
  requested: number;
  /** Held while pending; captured after. */
  amount: number;
  captured: number;
  refunded: number;
  hold_expires_at: number | null;
  parts: Part[];
  actor: string;
  created_at: number;
  updated_at: number;
  seq: number;
}

export const TXN_KINDS = ["issue", "credit", "redeem", "hold", "capture", "void", "refund", "expire", "reverse", "freeze", "unfreeze"] as const;
export type TxnKind = (typeof TXN_KINDS)[number];

export interface CardTxn {
  seq: number;
  op_id: string;
  kind: TxnKind;
  amount: number;
  redemption_id: string | null;
  bucket_id: string | null;
  before: CardBalance;
  after: CardBalance;
  actor: string;
  reference: string | null;
  created_at: number;
  /** This transaction's link in the card's hash chain (card-chain.ts). */
  hash: string;
}

export interface BucketView {
  id: string;
  kind: "base" | "bonus";
  amount: number;
  remaining: number;
  pending: number;
  expired: number;
  reversed: number;
  expires_at: number | null;
  state: BucketState;
  pool_id: string | null;
}

/** What a reversal took from each bucket: the base part goes back to the delivery's pool item, a bonus part to its credit's. */
export interface ReversedPart {
  bucket_id: string;
  kind: "base" | "bonus";
  pool_id: string | null;
  amount: number;
}

export interface CardState {
  card_id: string;
  org: string;
  currency: string;
  status: CardStatus;
  expires_at: number | null;
  balance: CardBalance;
  buckets: BucketView[];
}

export type CardErrorCode =
  | "invalid_argument"
  | "operation_id_reused"
  | "currency_mismatch"
  | "card_frozen"
  | "card_expired"
  | "card_reversed"
  | "insufficient_balance"
  | "duplicate_reference"
  | "redemption_not_found"
  | "redemption_not_pending"
  | "redemption_not_captured"
  | "invalid_amount";

export interface CardFailure {
  ok: false;
  code: CardErrorCode;
  detail: string;
  available?: number;
  redemption_id?: string;
}

export type CardResult<T extends object = object> = ({ ok: true; card: CardState } & T) | CardFailure;

export function fail(code: CardErrorCode, detail: string, extra: Partial<Pick<CardFailure, "available" | "redemption_id">> = {}): CardFailure {
  return { ok: false, code, detail, ...extra };
}
