/** Org settings, suppressions, batches, their transitions, uploads and recipient rows. */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Org settings as one validated JSON document (src/settings/settings.schema.ts), versioned. */
export const orgSettings = sqliteTable("org_settings", {
  org: text("org").primaryKey(),
  settings: text("settings").notNull(),
  version: integer("version").notNull(),
  updatedBy: text("updated_by").notNull(),
  updatedAt: text("updated_at").notNull(),
});

/** Recipients who must never be paid, by normalised email or E.164 phone. */
export const suppressions = sqliteTable(
  "suppressions",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    kind: text("kind", { enum: ["email", "phone"] }).notNull(),
    value: text("value").notNull(),
    reason: text("reason").notNull(),
    createdBy: text("created_by").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [uniqueIndex("suppressions_value").on(t.org, t.kind, t.value), index("suppressions_org").on(t.org, t.id)],
);

/**
 * Batches. `status` changes only through src/batches/batch-state.ts, which bumps `state_version`
 * and writes a `batch_transitions` row in the same transaction. `uploading_id` is the lease of the
 * one upload that may write recipients at a time.
 */
export const batches = sqliteTable(
  "batches",
  {
    id: text("id").primaryKey(),
    /** A small integer naming the batch inside `batch_recipients`' indexes (see batchRef in src/db/batch-ref.ts). */
    ref: integer("ref"),
    org: text("org").notNull(),
    name: text("name").notNull(),
    campaign: text("campaign").notNull(),
    businessOwner: text("business_owner").notNull(),
    costCenter: text("cost_center").notNull(),
    expectedDeliveryDate: text("expected_delivery_date").notNull(),
    expectedCount: integer("expected_count").notNull(),
    poolId: text("pool_id").notNull(),
    productId: text("product_id").notNull(),
    channel: text("channel", { enum: ["email", "sms", "link"] }).notNull(),
    currency: text("currency").notNull(),
    releaseAt: text("release_at"),
    status: text("status").notNull(),
    stateVersion: integer("state_version").notNull().default(0),
    rowsTotal: integer("rows_total").notNull().default(0),
    validCount: integer("valid_count").notNull().default(0),
    invalidCount: integer("invalid_count").notNull().default(0),
    excludedCount: integer("excluded_count").notNull().default(0),
    validTotal: integer("valid_total").notNull().default(0),
    contentVersion: integer("content_version").notNull().default(0),
    uploadingId: text("uploading_id"),
    uploadingUntil: text("uploading_until"),
    preview: text("preview"),
    previewVersion: integer("preview_version"),
    releasedAt: text("released_at"),
    createdBy: text("created_by").notNull(),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [index("batches_org").on(t.org, t.id), index("batches_org_status").on(t.org, t.status), uniqueIndex("batches_ref").on(t.ref)],
);

/** Every status change of a batch, in order; (batch_id, seq) makes two racing transitions impossible. */
export const batchTransitions = sqliteTable(
  "batch_transitions",
  {
    batchId: text("batch_id").notNull(),
    seq: integer("seq").notNull(),
    org: text("org").notNull(),
    fromStatus: text("from_status").notNull(),
    toStatus: text("to_status").notNull(),
    action: text("action").notNull(),
    actor: text("actor").notNull(),
    createdAt: text("created_at").notNull(),
  },
  // batch_transitions_org: the summary report's submitted-to-approved times (an org's approvals).
  (t) => [primaryKey({ columns: [t.batchId, t.seq] }), index("batch_transitions_org").on(t.org, t.toStatus)],
);

/** One row per accepted recipient upload (CSV or JSON chunk) with its counts. */
export const batchUploads = sqliteTable(
  "batch_uploads",
  {
    id: text("id").primaryKey(),
    batchId: text("batch_id").notNull(),
    org: text("org").notNull(),
    format: text("format", { enum: ["csv", "json"] }).notNull(),
    firstRow: integer("first_row").notNull(),
    rows: integer("rows").notNull(),
    valid: integer("valid").notNull(),
    invalid: integer("invalid").notNull(),
    excluded: integer("excluded").notNull(),
    validTotal: integer("valid_total").notNull(),
    /** The upload's aggregates (src/batches/upload-stats.ts) that the preview adds up. */
    stats: text("stats"),
    createdBy: text("created_by").notNull(),
    createdAt: text("created_at").notNull(),
  },
  // batch_uploads_actor: everyone who uploaded to a batch, read by four-eyes (src/approvals/shapers.ts).
  (t) => [index("batch_uploads_batch").on(t.batchId, t.firstRow), index("batch_uploads_actor").on(t.batchId, t.createdBy)],
);

/**
 * Recipient rows of a batch, each `valid`, `invalid` or `excluded` with its reason codes (JSON
 * array). `email_key` / `phone_key` are the normalised identities used for duplicates,
 * suppressions and prior payouts; `row_no` numbers rows across all uploads of the batch.
 */
export const batchRecipients = sqliteTable(
  "batch_recipients",
  {
    id: text("id").primaryKey(),
    batchId: text("batch_id").notNull(),
    /** The batch's `ref`: what the indexes hold instead of the 30-character id (they stay about half as big). */
    batchRef: integer("batch_ref"),
    org: text("org").notNull(),
    rowNo: integer("row_no").notNull(),
    uploadId: text("upload_id").notNull(),
    externalId: text("external_id"),
    name: text("name"),
    email: text("email"),
    phone: text("phone"),
    country: text("country"),
    amount: integer("amount"),
    amountRaw: text("amount_raw"),
    currency: text("currency"),
    fields: text("fields"),
    emailKey: text("email_key"),
    phoneKey: text("phone_key"),
    status: text("status", { enum: ["valid", "invalid", "excluded"] }).notNull(),
    reasons: text("reasons").notNull(),
  },
  (t) => [
    // No (batch_id, status) index: every index slows the bulk insert, and status filters read
    // the batch's rows in row order anyway (listing, export, fan-out).
    uniqueIndex("batch_recipients_row").on(t.batchRef, t.rowNo),
    index("batch_recipients_email").on(t.emailKey, t.batchRef).where(sql`email_key IS NOT NULL`),
    index("batch_recipients_phone").on(t.phoneKey, t.batchRef).where(sql`phone_key IS NOT NULL`),
    index("batch_recipients_external").on(t.batchRef, t.externalId).where(sql`external_id IS NOT NULL`),
  ],
);
