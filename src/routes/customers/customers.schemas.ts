/** Request and response schemas of the customer and segment routes (API.md "Customers and segments"). */
import { z } from "@hono/zod-openapi";
import { MAX_EMAIL_LENGTH } from "../../core/contacts";
import { ListQuery, PlainText } from "../../core/openapi";
import { MAX_RULE_LENGTH } from "../../campaigns/rules";
import { MAX_ATTRIBUTES, MAX_ATTRIBUTES_BYTES, MAX_EXTERNAL_ID } from "../../customers/customer-validate";
import { IMPORT_REASONS, MAX_JSON_CUSTOMERS } from "../../customers/customers.import";

export const ExternalIdParam = z.object({
  external_id: z
    .string()
    .min(1)
    .max(MAX_EXTERNAL_ID)
    .openapi({ param: { name: "external_id", in: "path" }, description: "The CRM's own id of the customer", example: "C-17" }),
});

const Attributes = z.record(z.string().max(64), z.unknown()).openapi({
  description:
    `Flat attributes: names are a letter or _ then letters, digits, _ (≤ 64); values are text (≤ 1,000), numbers, booleans or lists of them (≤ 100); ` +
    `at most ${MAX_ATTRIBUTES} attributes and ${MAX_ATTRIBUTES_BYTES} bytes. Dates as YYYY-MM-DD (or --MM-DD) feed date triggers (birthday, signup_date).`,
  example: { birthday: "1990-07-14", tier: "gold", tags: ["vip"] },
});

const profileFields = {
  email: z.string().max(MAX_EMAIL_LENGTH).nullable().optional().openapi({ example: "ann@example.com" }),
  phone: z.string().max(40).nullable().optional().openapi({ description: "E.164, or national with `country`", example: "+14155550123" }),
  name: z.string().max(200).nullable().optional(),
  country: z.string().max(8).nullable().optional().openapi({ description: "ISO 3166-1 alpha-2", example: "US" }),
  time_zone: z.string().max(64).nullable().optional().openapi({ description: "IANA time zone; absent means the org's", example: "Europe/Paris" }),
  attributes: Attributes.nullable().optional(),
};

export const PutCustomer = z.strictObject(profileFields).openapi("CustomerUpsert");

export const CustomerSchema = z
  .object({
    external_id: z.string(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    name: z.string().nullable(),
    country: z.string().nullable(),
    time_zone: z.string().nullable(),
    attributes: z.record(z.string(), z.unknown()),
    last_seen_at: z.string().nullable().openapi({ description: "occurred_at of the latest event that named the customer (never moved back by a late event)" }),
    last_seen: z.string().nullable().openapi({ description: "The same as last_seen_at (API.md's name)" }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Customer");

const N = z.number().int().min(0);
const rewardsSummary = {
  count: N.openapi({
    description: "Every reward: campaign rewards (rewarded or pending approval) by external id, batch payouts to the profile's email or phone",
  }),
  totals: z.array(z.object({ currency: z.string(), amount: N })).openapi({ description: "Their amounts by currency" }),
};
/** A list item: the profile and a summary of the rewards received (the items are on GET /v1/customers/{external_id}). */
export const CustomerListItemSchema = CustomerSchema.extend({
  rewards_received: z.object(rewardsSummary),
}).openapi("CustomerListItem");

export const CustomerDetailSchema = CustomerSchema.extend({
  segments: z.array(z.object({ segment_id: z.string(), entries: N, entered_at: z.string() })).openapi({ description: "Segments the customer is inside" }),
  rewards_received: z.object({
    ...rewardsSummary,
    items: z.array(
      z.object({
        source: z.enum(["campaign", "batch"]),
        campaign_id: z.string().nullable(),
        event_id: z.string().nullable(),
        batch_id: z.string().nullable(),
        outcome: z.enum(["rewarded", "pending_approval"]),
        amount: N,
        currency: z.string(),
        delivery_id: z.string().nullable(),
        delivery_status: z.string().nullable(),
        card_id: z.string().nullable().openapi({ description: "A card_credit reward's card (the customer's card it credited); null otherwise" }),
        credit_id: z.string().nullable().openapi({ description: "A card_credit reward's credit; null otherwise" }),
        at: z.string(),
      }),
    ),
  }),
}).openapi("CustomerDetail");

export const CustomerListQuery = ListQuery.extend({
  cursor: z.string().max(1000).optional().openapi({ description: "next_cursor from the previous page" }),
  segment_id: z.string().max(64).optional().openapi({ description: "Only the customers inside this segment" }),
  email: z
    .string()
    .max(MAX_EMAIL_LENGTH)
    .optional()
    .openapi({ description: "Customers with this email (compared like batch recipients: case and +tag ignored)" }),
});

const ImportRow = z.strictObject({ external_id: z.string().max(1000), ...profileFields });
export const ImportJson = z.strictObject({ customers: z.array(ImportRow).min(1).max(MAX_JSON_CUSTOMERS) }).openapi("CustomerImport");

export const ImportResultSchema = z
  .object({
    id: z.string(),
    format: z.enum(["csv", "json"]),
    rows: N,
    created: N,
    updated: N,
    invalid: N,
    excluded: N.openapi({
      description: "Rows refused as `duplicate_in_file`: an earlier valid row of this import had the same external_id (that one was applied)",
    }),
    blank_lines_skipped: N,
    segment_entries: N.openapi({ description: "Segment entries the import caused (evaluated now or by the five-minute sweep)" }),
    errors: z
      .array(z.object({ row: N, external_id: z.string().nullable(), reasons: z.array(z.enum(IMPORT_REASONS)) }))
      .openapi({ description: "Each refused row (1-based, header excluded) and why; at most 1,000 listed" }),
    errors_truncated: z.boolean(),
  })
  .openapi("CustomerImportResult");

export const EraseResultSchema = z
  .object({
    erased: z.literal(true),
    pseudonym: z.string().openapi({ description: "What the person's remaining rows (amounts, outcomes) are now keyed by" }),
    scrubbed: z.object({ profile: N, events: N, campaign_outcomes: N, segment_memberships: N, batch_recipients: N }),
  })
  .openapi("CustomerErasure");

export const CreateSegment = z
  .strictObject({
    name: PlainText(200),
    condition: z
      .string()
      .min(1)
      .max(MAX_RULE_LENGTH)
      .refine((r) => r.trim() !== "", "a condition cannot be blank")
      .openapi({ description: "A CEL condition over `customer`", example: 'customer.attributes.tier == "gold"' }),
  })
  .openapi("CreateSegment");

export const SegmentSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    condition: z.string(),
    backfilled: z.boolean().openapi({ description: "Every customer stored before the segment was saved has been judged" }),
    members: N.optional(),
    created_by: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Segment");
