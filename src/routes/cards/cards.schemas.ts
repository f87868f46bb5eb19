import { z } from "@hono/zod-openapi";
import { ListQuery, PlainText, TimeQuery } from "../../core/openapi";
import { Amount } from "../../settings/settings.schema";
import { CARD_STATUSES, REDEMPTION_STATUSES, TXN_KINDS } from "../../../durable-objects/card-types";

const Minor = z.number().int().min(0).openapi({ format: "int64", description: "Integer minor units" });
const Time = z.string().openapi({ format: "date-time" });

export const CardBalanceSchema = z
  .object({ available: Minor, pending: Minor, redeemed: Minor, expired: Minor, reversed: Minor, issued: Minor, credited: Minor })
  .openapi("CardBalance", { description: "issued + credited = available + pending + redeemed + expired + reversed, always" });

export const BucketSchema = z
  .object({
    id: z.string(),
    kind: z.enum(["base", "bonus"]),
    amount: Minor,
    remaining: Minor.openapi({ description: "Spendable now" }),
    pending: Minor.openapi({ description: "Held by pending redemptions" }),
    expires_at: Time.nullable(),
    state: z.enum(["active", "expired", "reversed"]),
  })
  .openapi("CardBucket", { description: "Base value (from issuance) or a bonus credit; spent earliest-expiring first" });

export const CardTxnSchema = z
  .object({
    seq: z.number().int(),
    kind: z.enum(TXN_KINDS),
    amount: Minor,
    redemption_id: z.string().nullable(),
    bucket_id: z.string().nullable(),
    before: CardBalanceSchema,
    after: CardBalanceSchema,
    actor: z.string(),
    reference: z.string().nullable(),
    created_at: Time,
    hash: z.string().nullable().openapi({
      description: "This transaction's link in the card's hash chain: SHA-256 of the previous link and the transaction (src/cards/README.md, Audit)",
    }),
  })
  .openapi("CardTransaction");

const CardCommon = {
  id: z.string().openapi({ example: "card_01jd3x..." }),
  status: z.enum([...CARD_STATUSES]),
  currency: z.string(),
  masked_code: z.string().nullable().openapi({ description: "The code's last four characters; the code itself is never returned" }),
  product_id: z.string(),
  delivery_id: z.string(),
  batch_id: z.string().nullable(),
  campaign_id: z.string().nullable().openapi({ description: "The campaign that rewarded this card (null for a batch's card)" }),
  pool_id: z.string().nullable(),
  expires_at: Time.nullable(),
  created_at: Time,
  balance: CardBalanceSchema,
};

export const CardSummarySchema = z.object(CardCommon).openapi("CardSummary", { description: "A card in a list (balances from the D1 mirror)" });

export const CardSchema = z
  .object({ ...CardCommon, buckets: z.array(BucketSchema), transactions: z.array(CardTxnSchema).openapi({ description: "The 20 latest, newest first" }) })
  .openapi("Card", { description: "A card with its live balance from its ledger" });

export const CardListQuery = ListQuery.extend({
  status: z.enum(CARD_STATUSES).optional(),
  batch_id: z.string().min(1).max(64).optional(),
  campaign_id: z.string().min(1).max(200).optional().openapi({ description: "A campaign's id (cmp_…) for its rewards, or a batch's campaign label" }),
  recipient_email: z.string().min(1).max(254).optional().openapi({ description: "Matched case-insensitively, +tags ignored" }),
  expiring_before: TimeQuery.openapi({
    description: "Cards whose own expiry is before this time, or that hold bonus value (available or on hold) expiring before it (ISO 8601 date or time)",
    example: "2027-01-01",
  }),
}).strict();

export const CodeBody = z
  .strictObject({ code: z.string().trim().min(1).max(64).openapi({ description: "The card's code, with or without dashes; never put it in a URL" }) })
  .openapi("CardLookup");

export const FlagBody = z.strictObject({ reason: z.string().trim().max(500).optional() }).openapi("CardFlagBody");

export const CreditBody = z
  .strictObject({
    amount: Amount.openapi({ description: "Bonus value in minor units, committed from the pool" }),
    pool_id: z.string().min(1).max(64),
    expires_at: z.iso.datetime({ offset: true }).optional().openapi({ maxLength: 40, description: "Default and cap: the card's own expiry" }),
    reason: PlainText(500),
  })
  .openapi("CardCredit");

export const CreditResultSchema = CardSchema.extend({
  credit: z.object({ id: z.string(), bucket_id: z.string(), amount: Minor, pool_id: z.string() }),
}).openapi("CardCredited");

export const RedemptionSchema = z
  .object({
    id: z.string().openapi({ example: "rdm_01jd3x..." }),
    card_id: z.string(),
    status: z.enum(REDEMPTION_STATUSES),
    amount: Minor.openapi({ description: "Held while pending, captured after" }),
    requested: Minor,
    captured: Minor,
    refunded: Minor,
    currency: z.string(),
    reference: z.string(),
    hold_expires_at: Time.nullable(),
    created_at: Time,
    updated_at: Time,
    card: z.object({ id: z.string(), status: z.enum([...CARD_STATUSES]), balance: CardBalanceSchema }).optional(),
  })
  .openapi("Redemption");

export const RedeemBody = z
  .strictObject({
    code: z.string().trim().min(1).max(64).optional().openapi({ description: "The card's code (or card_id)" }),
    card_id: z.string().min(1).max(64).optional(),
    amount: Amount,
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/)
      .openapi({ maxLength: 3, example: "USD" }),
    reference: PlainText(200).openapi({ description: "The shop's order or payment reference; once per card" }),
    capture: z.boolean().optional().openapi({ description: "true (default): spend now; false: hold until capture, void or expiry" }),
    hold_seconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 86_400)
      .optional()
      .openapi({ description: "How long a pending redemption holds value (default 3600, at most 30 days)" }),
    allow_partial: z.boolean().optional().openapi({ description: "Take what the card has when it has less than amount" }),
  })
  .refine((b) => (b.code === undefined) !== (b.card_id === undefined), { message: "Send exactly one of code and card_id", path: ["code"] })
  .openapi("Redeem");

export const AmountBody = z.strictObject({ amount: Amount.optional() }).openapi("RedemptionAmount");

export const RedemptionListQuery = ListQuery.extend({
  card_id: z.string().min(1).max(64).optional(),
  reference: z.string().min(1).max(200).optional(),
}).strict();
