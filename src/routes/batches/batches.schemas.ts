/** Request and response schemas of the batch routes. */
import { z } from "@hono/zod-openapi";
import { MAX_BATCH_ROWS } from "../../core/limits";
import { PlainText } from "../../core/openapi";
import { BATCH_STATUSES } from "../../batches/batch-state";
import { MAX_TEMPLATE_FIELDS } from "../../batches/recipients.parse";
import { EXCLUSION_REASONS, INVALID_REASONS } from "../../batches/recipients.validate";

const Count = z.number().int();
const RecipientStatus = z.enum(["valid", "invalid", "excluded"]);

export const CreateBatch = z
  .strictObject({
    name: PlainText(200),
    campaign: PlainText(200),
    business_owner: PlainText(200),
    cost_center: PlainText(64),
    expected_delivery_date: z.iso.date().openapi({ example: "2026-12-15", maxLength: 10 }),
    expected_count: z.number().int().min(1).max(MAX_BATCH_ROWS),
    pool_id: z.string().min(1).max(64),
    product_id: z.string().min(1).max(64),
    channel: z.enum(["email", "sms", "link"]),
    release_at: z.iso.datetime({ offset: true }).optional().openapi({ maxLength: 40, description: "Release at this time after approval (else at once)" }),
  })
  .openapi("CreateBatch");

const Counts = z.object({ total: Count, valid: Count, invalid: Count, excluded: Count });

export const BatchSchema = z
  .object({
    id: z.string().openapi({ example: "bat_01jd..." }),
    status: z.enum(BATCH_STATUSES),
    name: z.string(),
    campaign: z.string(),
    business_owner: z.string(),
    cost_center: z.string(),
    expected_delivery_date: z.string(),
    expected_count: Count,
    pool_id: z.string(),
    product_id: z.string(),
    channel: z.enum(["email", "sms", "link"]),
    currency: z.string(),
    release_at: z.string().nullable(),
    counts: Counts,
    totals: z.object({ valid_amount: Count, currency: z.string() }),
    content_version: Count.openapi({ description: "Bumped by every committed upload" }),
    upload_in_progress: z.boolean(),
    created_by: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Batch");

export const RecipientInput = z
  .strictObject({
    external_id: z.string().max(1000).optional(),
    name: z.string().max(1000).optional(),
    email: z.string().max(1000).optional(),
    phone: z.string().max(100).optional(),
    country: z.string().max(10).optional(),
    amount: z
      .union([z.number(), z.string().max(64)])
      .optional()
      .openapi({ description: "Integer minor units" }),
    currency: z.string().max(10).optional(),
    fields: z
      .record(z.string().regex(/^[a-z][a-z0-9_]{0,39}$/), z.string().max(2000))
      .refine((f) => Object.keys(f).length <= MAX_TEMPLATE_FIELDS, `At most ${MAX_TEMPLATE_FIELDS} template fields`)
      .optional(),
  })
  .openapi("RecipientInput");

export const UploadJson = z.strictObject({ recipients: z.array(RecipientInput).min(1).max(5000) }).openapi("RecipientUpload");

export const UploadResultSchema = z
  .object({
    upload: z.object({
      id: z.string(),
      first_row: Count,
      rows: Count,
      valid: Count,
      invalid: Count,
      excluded: Count,
      valid_amount: Count,
      blank_lines_skipped: Count,
    }),
    counts: Counts.openapi({ description: "The batch's rows by status after this upload (the same as `batch.counts`)" }),
    batch: BatchSchema,
  })
  .openapi("RecipientUploadResult");

const Reason = z.enum([...INVALID_REASONS, ...EXCLUSION_REASONS]);

export const RecipientSchema = z
  .object({
    id: z.string().openapi({ example: "rcp_01jd..." }),
    row: Count.openapi({ description: "1-based row number across all uploads of the batch" }),
    upload_id: z.string(),
    status: RecipientStatus,
    reasons: z.array(Reason),
    external_id: z.string().nullable(),
    name: z.string().nullable(),
    email: z.string().nullable(),
    phone: z.string().nullable().openapi({ description: "E.164 when valid, else as given" }),
    country: z.string().nullable(),
    amount: z.number().int().nullable(),
    amount_raw: z.string().optional().openapi({ description: "The given amount when it is not a whole number" }),
    currency: z.string(),
    fields: z.record(z.string(), z.string()),
  })
  .openapi("Recipient");

export const RecipientQuery = z.strictObject({
  status: RecipientStatus.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(200).optional(),
});

const Anomaly = z.object({ code: z.string(), detail: z.string() }).catchall(z.unknown());

export const PreviewSchema = z
  .object({
    batch_id: z.string(),
    status: z.enum(BATCH_STATUSES),
    content_version: Count,
    counts: Counts,
    reasons: z.array(z.object({ status: z.enum(["invalid", "excluded"]), reason: Reason, count: Count })),
    totals: z.array(z.object({ currency: z.string(), rows: Count, valid_count: Count, valid_amount: Count, requested_amount: Count })),
    amounts: z
      .object({
        count: Count,
        min: Count,
        max: Count,
        mean: Count,
        median: Count,
        p25: Count,
        p75: Count,
        p90: Count,
        buckets: z.array(z.object({ from: Count, to: Count, count: Count })),
      })
      .nullable(),
    anomalies: z.array(Anomaly),
    pool: z.object({
      pool_id: z.string(),
      currency: z.string(),
      available: Count,
      valid_total: Count,
      covers_valid_total: z.boolean(),
      shortfall: Count,
    }),
    inventory: z
      .object({
        product_id: z.string(),
        needed: Count.openapi({ description: "Codes the valid rows need (one each)" }),
        available: Count.openapi({ description: "Of those, how many available codes of the right amount there are now" }),
        covers_valid_rows: z.boolean(),
        shortfall: Count,
        by_amount: z
          .array(z.object({ amount: Count, needed: Count, available: Count, short: Count }))
          .openapi({ description: "Per amount the valid rows ask for, the short ones first (at most 100)" }),
      })
      .nullable()
      .openapi({
        description:
          "Inventory products only (null for stored value): whether the codes available now cover the valid rows. Codes are assigned at delivery, so another batch delivering first may take some; a delivery that finds none waits as an exception until codes are uploaded.",
      }),
  })
  .openapi("BatchPreview");

export const CancelBatch = z.strictObject({ reason: z.string().max(500).optional() }).openapi("CancelBatch");
export const BatchListQuery = z.strictObject({
  status: z.enum(BATCH_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});
