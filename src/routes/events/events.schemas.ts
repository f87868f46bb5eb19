/** Request and response schemas of the event routes. */
import { z } from "@hono/zod-openapi";
import { MAX_EMAIL_LENGTH } from "../../core/contacts";
import { PlainText } from "../../core/openapi";
import { dateProblem } from "../../customers/customer-validate";
import { SKIP_REASONS } from "../../events/outcomes";

export const MAX_EVENTS_PER_BATCH = 1000;
const Json = z.record(z.string().max(100), z.unknown()).refine((o) => Object.keys(o).length <= 100, "at most 100 keys");

export const EventCustomer = z.strictObject({
  external_id: PlainText(200),
  email: z.string().max(MAX_EMAIL_LENGTH).optional(),
  phone: z.string().max(40).optional(),
  name: PlainText(200).optional(),
  country: z
    .string()
    .regex(/^[A-Za-z]{2}$/, "an ISO 3166-1 alpha-2 code")
    .transform((c) => c.toUpperCase())
    .openapi({ maxLength: 2, example: "US" })
    .optional(),
  attributes: Json.optional()
    .superRefine((attributes, ctx) => {
      // A date the profile would index must be a real one, as PUT and the import require (src/customers/customer-validate.ts).
      for (const [name, value] of Object.entries(attributes ?? {})) {
        const problem = value === null ? null : dateProblem(name, value);
        if (problem) ctx.addIssue({ code: "custom", message: problem, path: [name], params: { reason: "date_invalid" } });
      }
    })
    .openapi({
      description:
        "Free-form customer attributes (tier, signup_date, ...): `customer.attributes` in rules; at most 100 keys. A value shaped like a date, and `birthday`, `anniversary` or any `*_date`, must be a calendar date (`YYYY-MM-DD`, optionally with a time, or `--MM-DD`)",
    }),
});

/** API.md: a referral.converted event names its referrer in `properties.referrer`, shaped like `customer`. */
const REFERRAL_EVENT = "referral.converted";

export const EventInput = z
  .strictObject({
    id: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[\x21-\x7e]+$/, "visible ASCII")
      .openapi({ description: "The source's own event id: the dedupe key per org (kept at least 90 days)", example: "shop-evt-1001" }),
    type: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z0-9_.:-]+$/)
      .openapi({ example: "order.paid" }),
    occurred_at: z.iso.datetime({ offset: true }).openapi({ maxLength: 40 }),
    customer: EventCustomer,
    properties: Json.optional().openapi({
      description:
        "What happened (order total, items...): `event.properties` in rules; at most 100 keys. A `referral.converted` event needs `referrer` here, shaped like `customer` (the referee)",
    }),
  })
  .superRefine((e, ctx) => {
    if (e.type !== REFERRAL_EVENT) return;
    const r = EventCustomer.safeParse(e.properties?.referrer);
    for (const issue of r.error?.issues ?? []) {
      ctx.addIssue({ code: "custom", message: issue.message, path: ["properties", "referrer", ...issue.path] });
    }
  })
  .openapi("Event");

/**
 * Each event is checked on its own (src/events/event-batch.ts), so one bad event answers an error in
 * its place instead of refusing the batch: the items are validated there, documented here as `Event`.
 */
export const EventBatch = z
  .strictObject({
    events: z
      .array(z.unknown().openapi({ allOf: [{ $ref: "#/components/schemas/Event" }] }))
      .min(1)
      .max(MAX_EVENTS_PER_BATCH)
      .openapi({ description: "1 to 1,000 events; an invalid one answers a `validation_failed` error in its place, the others are evaluated" }),
  })
  .openapi("EventBatch");

const Side = z
  .enum(["referee", "referrer"])
  .openapi({ description: "Referral campaigns only: the side this outcome is for; such a campaign answers one outcome per side" });
const Outcome = z.object({
  campaign_id: z.string(),
  side: Side.optional(),
  outcome: z.enum(["rewarded", "pending_approval", "skipped"]),
  reason: z.enum(SKIP_REASONS).optional(),
  delivery_id: z.string().optional(),
  card_id: z.string().optional().openapi({ description: "Addition: a card_credit reward's card (the customer's existing card it credited)" }),
  credit_id: z.string().optional().openapi({ description: "Addition: a card_credit reward's credit (the card's bonus bucket `bonus:<credit_id>`)" }),
});
export const EventAnswer = z.object({ id: z.string(), outcomes: z.array(Outcome) }).openapi("EventOutcomes");
const EventError = z
  .object({
    id: z.string().optional().openapi({ description: "The event's id, when it had a usable one" }),
    error: z.object({
      code: z
        .string()
        .openapi({ description: "`validation_failed` (this event is not valid), or `conflict` (a copy is still being evaluated elsewhere after 20 s)" }),
      detail: z.string(),
      errors: z
        .array(z.object({ pointer: z.string().optional(), code: z.string(), detail: z.string() }))
        .optional()
        .openapi({ description: "validation_failed: each problem, its pointer into the request body (`/events/3/occurred_at`)" }),
    }),
  })
  .openapi("EventBatchError");
export const EventBatchAnswer = z
  .object({ data: z.array(z.union([EventAnswer, EventError])).openapi({ description: "One answer per event, in the request's order" }) })
  .openapi("EventBatchOutcomes");

export const EventRecord = z
  .object({
    id: z.string(),
    type: z.string(),
    occurred_at: z.string(),
    status: z.enum(["evaluating", "done"]),
    received_by: z.string(),
    received_at: z.string(),
    evaluated_at: z.string().nullable(),
    outcomes: z.array(
      z.object({
        campaign_id: z.string(),
        side: Side.optional(),
        outcome: z.enum(["rewarded", "pending_approval", "skipped"]),
        reason: z.string().nullable(),
        amount: z.number().int().nullable(),
        delivery_id: z.string().nullable(),
        card_id: z.string().nullable().openapi({ description: "Addition: a card_credit reward's card" }),
        credit_id: z.string().nullable().openapi({ description: "Addition: a card_credit reward's credit (bonus bucket `bonus:<credit_id>`)" }),
        credit_expires_at: z
          .string()
          .nullable()
          .openapi({ description: "Addition: when a card_credit reward's bonus expires (capped at the card's own expiry)" }),
        detail: z.string().nullable(),
        evaluated_at: z.string(),
      }),
    ),
  })
  .openapi("EventRecord");
