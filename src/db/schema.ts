/**
 * D1 tables (drizzle-orm). One source for SQL, types and zod schemas; `npm run db:generate`
 * writes the migration SQL into migrations/. Times are ISO 8601 UTC strings; money is integer minor units.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Stored responses of POSTs sent with an Idempotency-Key, per org. */
export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    org: text("org").notNull(),
    key: text("key").notNull(),
    requestHash: text("request_hash").notNull(),
    state: text("state", { enum: ["in_flight", "done"] }).notNull(),
    responseStatus: integer("response_status"),
    responseHeaders: text("response_headers"),
    responseBody: text("response_body"),
    createdAt: text("created_at").notNull(),
    expiresAt: text("expires_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.org, t.key] }), index("idempotency_keys_expires").on(t.expiresAt)],
);

/**
 * Append-only audit trail, hash-chained per org: hash = SHA-256(prev_hash + canonical event).
 * Nothing updates or deletes these rows.
 */
export const auditEvents = sqliteTable(
  "audit_events",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    seq: integer("seq").notNull(),
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    before: text("before"),
    after: text("after"),
    requestId: text("request_id"),
    createdAt: text("created_at").notNull(),
    prevHash: text("prev_hash").notNull(),
    hash: text("hash").notNull(),
  },
  (t) => [
    uniqueIndex("audit_events_org_seq").on(t.org, t.seq),
    index("audit_events_entity").on(t.org, t.entityId),
  ],
);

export const now = () => new Date().toISOString();
export { sql };

/** Funding pools. The pool's Durable Object is the authority for its balance; these columns mirror it. */
export const pools = sqliteTable(
  "pools",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    name: text("name").notNull(),
    currency: text("currency").notNull(),
    limits: text("limits").notNull().default("{}"),
    available: integer("available").notNull().default(0),
    reserved: integer("reserved").notNull().default(0),
    committed: integer("committed").notNull().default(0),
    funded: integer("funded").notNull().default(0),
    released: integer("released").notNull().default(0),
    reversed: integer("reversed").notNull().default(0),
    withdrawn: integer("withdrawn").notNull().default(0),
    journalSeq: integer("journal_seq").notNull().default(0),
    createdBy: text("created_by").notNull(),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [index("pools_org").on(t.org, t.id)],
);

/** Mirror of each pool DO's journal, entry by entry (seq is the DO's own sequence). */
export const poolLedger = sqliteTable(
  "pool_ledger",
  {
    poolId: text("pool_id").notNull(),
    seq: integer("seq").notNull(),
    org: text("org").notNull(),
    opId: text("op_id").notNull(),
    kind: text("kind").notNull(),
    holdId: text("hold_id"),
    itemId: text("item_id"),
    amount: integer("amount").notNull(),
    before: text("before").notNull(),
    after: text("after").notNull(),
    actor: text("actor").notNull(),
    reference: text("reference"),
    createdAt: text("created_at").notNull(),
    /** A commit entry's item ids (JSON array): the DO journals one entry per commit call. */
    items: text("items"),
  },
  (t) => [
    primaryKey({ columns: [t.poolId, t.seq] }),
    index("pool_ledger_item").on(t.org, t.itemId),
    index("pool_ledger_hold").on(t.poolId, t.holdId),
  ],
);

/** Products of the catalog: `inventory` (codes bought from a provider) or `stored_value` (cards Rewardrail issues). */
export const products = sqliteTable(
  "products",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    name: text("name").notNull(),
    kind: text("kind", { enum: ["inventory", "stored_value"] }).notNull(),
    currency: text("currency").notNull(),
    minAmount: integer("min_amount").notNull(),
    maxAmount: integer("max_amount").notNull(),
    countries: text("countries").notNull(),
    expiresAfterDays: integer("expires_after_days"),
    createdBy: text("created_by").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [index("products_org").on(t.org, t.id)],
);

/**
 * Inventory codes, encrypted at rest: AES-GCM with a random IV and AAD = org + code id, so a
 * ciphertext copied onto another row does not decrypt. `code_hmac` (keyed, per org) finds duplicates
 * without ever storing the plain code.
 */
export const inventoryCodes = sqliteTable(
  "inventory_codes",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    productId: text("product_id").notNull(),
    amount: integer("amount").notNull(),
    ciphertext: text("ciphertext").notNull(),
    iv: text("iv").notNull(),
    keyVersion: integer("key_version").notNull(),
    codeHmac: text("code_hmac").notNull(),
    // `pending` until the upload that brought the code commits, so a half-done upload is never handed out.
    status: text("status", { enum: ["pending", "available", "assigned"] }).notNull().default("pending"),
    deliveryId: text("delivery_id"),
    uploadId: text("upload_id").notNull(),
    createdAt: text("created_at").notNull(),
    assignedAt: text("assigned_at"),
    /** Set when the delivery's reward was reissued or reversed: the code stays assigned (it was seen) but is void. */
    voidedAt: text("voided_at"),
  },
  (t) => [
    uniqueIndex("inventory_codes_hmac").on(t.org, t.codeHmac),
    index("inventory_codes_product").on(t.productId, t.status, t.amount),
  ],
);

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
  (t) => [index("batches_org").on(t.org, t.id), index("batches_org_status").on(t.org, t.status)],
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
  (t) => [primaryKey({ columns: [t.batchId, t.seq] })],
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
  (t) => [index("batch_uploads_batch").on(t.batchId, t.firstRow)],
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
    uniqueIndex("batch_recipients_row").on(t.batchId, t.rowNo),
    index("batch_recipients_email").on(t.emailKey, t.batchId).where(sql`email_key IS NOT NULL`),
    index("batch_recipients_phone").on(t.phoneKey, t.batchId).where(sql`phone_key IS NOT NULL`),
    index("batch_recipients_external").on(t.batchId, t.externalId).where(sql`external_id IS NOT NULL`),
  ],
);

/**
 * Never holds a row: inserting NULL into it aborts the D1 batch (one transaction) that the insert
 * belongs to. src/core/guard.ts uses it to make a batch all-or-nothing on a condition.
 */
export const writeGuards = sqliteTable("write_guards", { staleWrite: integer("stale_write").notNull() });

/**
 * What channels would have sent, when the Worker runs in development without provider keys
 * (GET /dev/outbox). `idempotency_key` is unique, as a provider's would be, so a retried send
 * shows up once.
 */
export const devOutbox = sqliteTable(
  "dev_outbox",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    channel: text("channel", { enum: ["email", "sms", "link"] }).notNull(),
    to: text("to").notNull(),
    subject: text("subject"),
    text: text("text").notNull(),
    html: text("html"),
    links: text("links").notNull().default("[]"),
    idempotencyKey: text("idempotency_key").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [uniqueIndex("dev_outbox_idempotency").on(t.idempotencyKey), index("dev_outbox_created").on(t.createdAt)],
);

/**
 * One delivery per valid recipient of a released batch. The id is derived from the recipient id
 * (decided before any side effect), so a redelivered fan-out never creates a second one; a reissue
 * is a new row pointing at the one it replaces. `item` is the pool DO item id its value was
 * committed under (the original delivery's id, kept across reissues).
 */
export const deliveries = sqliteTable(
  "deliveries",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    batchId: text("batch_id").notNull(),
    recipientId: text("recipient_id").notNull(),
    poolId: text("pool_id").notNull(),
    productId: text("product_id").notNull(),
    channel: text("channel", { enum: ["email", "sms", "link"] }).notNull(),
    amount: integer("amount").notNull(),
    currency: text("currency").notNull(),
    status: text("status", { enum: ["queued", "sending", "delivered", "failed", "held", "reversed", "reissued"] }).notNull(),
    statusReason: text("status_reason"),
    item: text("item").notNull(),
    committed: integer("committed").notNull().default(0),
    codeId: text("code_id"),
    cardId: text("card_id"),
    maskedCode: text("masked_code"),
    attempts: integer("attempts").notNull().default(0),
    claimedUntil: text("claimed_until"),
    reissueOf: text("reissue_of"),
    claimOpenedAt: text("claim_opened_at"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    deliveredAt: text("delivered_at"),
  },
  (t) => [
    index("deliveries_batch_status").on(t.batchId, t.status),
    index("deliveries_org_status").on(t.org, t.status, t.updatedAt),
    index("deliveries_recipient").on(t.recipientId),
    // Reconciliation pages through an org's deliveries in id order.
    index("deliveries_org_id").on(t.org, t.id),
    index("deliveries_reissue_of").on(t.reissueOf).where(sql`reissue_of IS NOT NULL`),
    uniqueIndex("deliveries_code").on(t.codeId).where(sql`code_id IS NOT NULL`),
  ],
);

/** Every attempt to send a delivery: first send, retries, resends, reissues. */
export const deliveryAttempts = sqliteTable(
  "delivery_attempts",
  {
    id: text("id").primaryKey(),
    deliveryId: text("delivery_id").notNull(),
    org: text("org").notNull(),
    attemptNo: integer("attempt_no").notNull(),
    kind: text("kind", { enum: ["send", "resend", "reissue"] }).notNull(),
    channel: text("channel").notNull(),
    idempotencyKey: text("idempotency_key").notNull(),
    outcome: text("outcome", { enum: ["pending", "sent", "failed"] }).notNull(),
    providerMessageId: text("provider_message_id"),
    errorClass: text("error_class"),
    errorDetail: text("error_detail"),
    actor: text("actor").notNull(),
    createdAt: text("created_at").notNull(),
    completedAt: text("completed_at"),
  },
  (t) => [uniqueIndex("delivery_attempts_no").on(t.deliveryId, t.attemptNo)],
);

/** Fan-out work of a release: ranges of recipient rows; a batch completes only when every chunk is done. */
export const deliveryChunks = sqliteTable(
  "delivery_chunks",
  {
    batchId: text("batch_id").notNull(),
    fromRow: integer("from_row").notNull(),
    toRow: integer("to_row").notNull(),
    org: text("org").notNull(),
    done: integer("done").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.batchId, t.fromRow] })],
);

/** Stored-value cards Rewardrail issues: a high-entropy code (encrypted like inventory codes), balance, expiry. */
export const cards = sqliteTable(
  "cards",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    productId: text("product_id").notNull(),
    deliveryId: text("delivery_id").notNull(),
    currency: text("currency").notNull(),
    initialAmount: integer("initial_amount").notNull(),
    balance: integer("balance").notNull(),
    ciphertext: text("ciphertext").notNull(),
    iv: text("iv").notNull(),
    keyVersion: integer("key_version").notNull(),
    codeHmac: text("code_hmac").notNull(),
    status: text("status", { enum: ["active", "void"] }).notNull(),
    expiresAt: text("expires_at"),
    createdAt: text("created_at").notNull(),
  },
  (t) => [uniqueIndex("cards_delivery").on(t.deliveryId), uniqueIndex("cards_hmac").on(t.org, t.codeHmac)],
);

/**
 * The exception queue: failed, dead-lettered, held, stuck or suspicious things a person must
 * resolve (retry / cancel / accept). At most one open exception per (org, kind, entity).
 */
export const exceptions = sqliteTable(
  "exceptions",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    kind: text("kind").notNull(),
    severity: text("severity", { enum: ["low", "medium", "high"] }).notNull(),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    batchId: text("batch_id"),
    status: text("status", { enum: ["open", "resolved"] }).notNull(),
    detail: text("detail").notNull(),
    data: text("data"),
    occurrences: integer("occurrences").notNull().default(1),
    resolution: text("resolution"),
    note: text("note"),
    resolvedBy: text("resolved_by"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    resolvedAt: text("resolved_at"),
  },
  (t) => [
    uniqueIndex("exceptions_open").on(t.org, t.kind, t.entityId).where(sql`status = 'open'`),
    index("exceptions_org_status").on(t.org, t.status, t.createdAt),
    // Everything known about one entity, open or resolved (reconciliation, support views).
    index("exceptions_entity").on(t.org, t.entityId),
  ],
);

/**
 * One approval flow per submitted batch: the policy steps it was submitted under (a later policy
 * change never alters them), the content hash approvers are bound to, the pool hold, and where the
 * flow stands. `exit_actor` / `hold_released_at` let a side exit's hold release be retried with
 * the same arguments until it is done (src/approvals/exit.ts).
 */
export const approvalFlows = sqliteTable(
  "approval_flows",
  {
    batchId: text("batch_id").primaryKey(),
    org: text("org").notNull(),
    policy: text("policy").notNull(),
    steps: text("steps").notNull(),
    currentStep: integer("current_step").notNull().default(0),
    state: text("state", { enum: ["open", "approved", "released", "rejected", "cancelled", "expired"] }).notNull(),
    autoRelease: integer("auto_release", { mode: "boolean" }).notNull(),
    contentHash: text("content_hash").notNull(),
    fingerprint: text("fingerprint").notNull(),
    holdId: text("hold_id").notNull(),
    holdAmount: integer("hold_amount").notNull(),
    holdExpiresAt: text("hold_expires_at").notNull(),
    holdReleasedAt: text("hold_released_at"),
    exitActor: text("exit_actor"),
    submittedBy: text("submitted_by").notNull(),
    submittedAt: text("submitted_at").notNull(),
    closedAt: text("closed_at"),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [index("approval_flows_state").on(t.state, t.holdExpiresAt)],
);

/**
 * One emailed approval link: approver, batch and step. Only the SHA-256 of the signed token is
 * stored; `status` moves pending → used (its one decision) or pending → superseded, never back.
 */
export const approvalRequests = sqliteTable(
  "approval_requests",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    batchId: text("batch_id").notNull(),
    step: integer("step").notNull(),
    approverSub: text("approver_sub").notNull(),
    approverEmail: text("approver_email").notNull(),
    tokenHash: text("token_hash").notNull(),
    status: text("status", { enum: ["pending", "used", "superseded"] }).notNull(),
    expiresAt: text("expires_at").notNull(),
    emailStatus: text("email_status", { enum: ["sending", "sent", "failed"] }).notNull(),
    emailMessageId: text("email_message_id"),
    emailError: text("email_error"),
    openedAt: text("opened_at"),
    usedAt: text("used_at"),
    createdAt: text("created_at").notNull(),
  },
  (t) => [
    uniqueIndex("approval_requests_step_approver").on(t.batchId, t.step, t.approverSub),
    uniqueIndex("approval_requests_token").on(t.tokenHash),
  ],
);

/** Decisions on a batch. UNIQUE(batch_id, approver_sub): a person decides on a batch once, at one step. */
export const approvalDecisions = sqliteTable(
  "approval_decisions",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    batchId: text("batch_id").notNull(),
    step: integer("step").notNull(),
    approverSub: text("approver_sub").notNull(),
    decision: text("decision", { enum: ["approve", "reject"] }).notNull(),
    comment: text("comment"),
    via: text("via", { enum: ["link", "api"] }).notNull(),
    requestId: text("request_id"),
    createdAt: text("created_at").notNull(),
  },
  (t) => [uniqueIndex("approval_decisions_approver").on(t.batchId, t.approverSub), index("approval_decisions_step").on(t.batchId, t.step, t.decision)],
);

/**
 * Reconciliation runs. At most one `running` run per org; a run advances one bounded step at a
 * time (`phase` + `cursor`), holding `lease_until` while a step works, and `step` guards each
 * commit so a step is applied once. `state` carries the totals and per-phase statistics.
 */
export const reconciliationRuns = sqliteTable(
  "reconciliation_runs",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    trigger: text("trigger", { enum: ["manual", "cron"] }).notNull(),
    requestedBy: text("requested_by").notNull(),
    status: text("status", { enum: ["running", "completed", "failed", "abandoned"] }).notNull(),
    phase: text("phase").notNull(),
    cursor: text("cursor"),
    state: text("state").notNull(),
    step: integer("step").notNull().default(0),
    rowsScanned: integer("rows_scanned").notNull().default(0),
    failures: integer("failures").notNull().default(0),
    error: text("error"),
    findingsByKind: text("findings_by_kind"),
    findingsBySeverity: text("findings_by_severity"),
    leaseUntil: text("lease_until"),
    startedAt: text("started_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    completedAt: text("completed_at"),
  },
  (t) => [index("reconciliation_runs_org").on(t.org, t.id), uniqueIndex("reconciliation_runs_running").on(t.org).where(sql`status = 'running'`)],
);

/** What a run found: one row per (run, kind, entity), with expected vs actual amounts and the exception that tracks it. */
export const reconciliationFindings = sqliteTable(
  "reconciliation_findings",
  {
    id: text("id").primaryKey(),
    runId: text("run_id").notNull(),
    org: text("org").notNull(),
    kind: text("kind").notNull(),
    severity: text("severity", { enum: ["low", "medium", "high"] }).notNull(),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    batchId: text("batch_id"),
    poolId: text("pool_id"),
    currency: text("currency"),
    expected: integer("expected"),
    actual: integer("actual"),
    detail: text("detail").notNull(),
    data: text("data"),
    fingerprint: text("fingerprint").notNull(),
    exceptionId: text("exception_id"),
    createdAt: text("created_at").notNull(),
  },
  (t) => [uniqueIndex("reconciliation_findings_entity").on(t.runId, t.kind, t.entityId), index("reconciliation_findings_run").on(t.runId, t.id)],
);

/**
 * The org's known problems, one row per (kind, entity): the fingerprint of the facts last seen and
 * whether the latest completed run still saw it. A resolved exception stays resolved while runs
 * keep finding the same facts; it opens again when the facts change or the problem comes back
 * after a run found it gone (src/reconciliation/findings.write.ts).
 */
export const reconciliationIssues = sqliteTable(
  "reconciliation_issues",
  {
    org: text("org").notNull(),
    kind: text("kind").notNull(),
    entityId: text("entity_id").notNull(),
    fingerprint: text("fingerprint").notNull(),
    state: text("state", { enum: ["present", "cleared"] }).notNull(),
    firstRunId: text("first_run_id").notNull(),
    lastRunId: text("last_run_id").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.org, t.kind, t.entityId] }), index("reconciliation_issues_state").on(t.org, t.state)],
);
