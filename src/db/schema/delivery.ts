/** Deliveries, their attempts, fan-out chunks, stored-value cards and the exception queue. */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

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
    /** Null for a campaign's reward, which has `campaign_id` and `event_id` instead. */
    batchId: text("batch_id"),
    /** A batch recipient, or for a campaign reward its outcome row (campaign_outcomes.id). */
    recipientId: text("recipient_id").notNull(),
    campaignId: text("campaign_id"),
    eventId: text("event_id"),
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
    // A batch's deliveries newest first, all of them or of one status (support listing, CSV export).
    index("deliveries_batch_status").on(t.batchId, t.status, t.id),
    index("deliveries_batch_id").on(t.batchId, t.id),
    index("deliveries_campaign_id").on(t.campaignId, t.id).where(sql`campaign_id IS NOT NULL`),
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

/**
 * Stored-value cards Rewardrail issues: a high-entropy code (encrypted like inventory codes), balance,
 * expiry. Codes are 125 random bits, so two cards sharing one is out of reach (~n²/2¹²⁶); `code_hmac`
 * is kept for a future look-up by code but not indexed: a unique index on it was a random-order
 * B-tree that dirtied a page per card: ~25 of the ~62 µs of issuing a card in the delivery bench.
 */
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
  (t) => [uniqueIndex("cards_delivery").on(t.deliveryId)],
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
    // The exceptions list, newest first: all, by status, or of one batch (src/exceptions/exceptions.query.ts).
    index("exceptions_org_id").on(t.org, t.id),
    index("exceptions_org_status_id").on(t.org, t.status, t.id),
    index("exceptions_batch_id").on(t.batchId, t.id),
    // Everything known about one entity, open or resolved (reconciliation, support views).
    index("exceptions_entity").on(t.org, t.entityId),
  ],
);
