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
    // A batch's deliveries in id order (support listing, CSV export), and its rows of a status
    // other than delivered: in flight, held, failed (the completion check, the sweep, support).
    // The status indexes leave delivered rows out (migration 0024): a delivery's last move to
    // delivered then writes its row alone, not an index entry per status index. Their queries
    // say `status <> 'delivered'` in so many words, which is how SQLite knows it may use them.
    index("deliveries_batch_status").on(t.batchId, t.status, t.id).where(sql`status <> 'delivered'`),
    index("deliveries_batch_id").on(t.batchId, t.id),
    index("deliveries_campaign_id").on(t.campaignId, t.id).where(sql`campaign_id IS NOT NULL`),
    index("deliveries_org_status").on(t.org, t.status, t.updatedAt).where(sql`status <> 'delivered'`),
    index("deliveries_recipient").on(t.recipientId),
    // Reconciliation pages through an org's deliveries in id order.
    index("deliveries_org_id").on(t.org, t.id),
    index("deliveries_reissue_of").on(t.reissueOf).where(sql`reissue_of IS NOT NULL`),
    uniqueIndex("deliveries_code").on(t.codeId).where(sql`code_id IS NOT NULL`),
  ],
);

/**
 * Every attempt to send a delivery: first send, retries, resends, reissues. Keyed by (delivery,
 * attempt number) in a WITHOUT ROWID table (migration 0024, hand-edited: drizzle-kit cannot say
 * WITHOUT ROWID), so an attempt is one row written and no index entry. The consumer writes its
 * attempts once, with their outcome; resends and reissues write a pending row before the provider
 * call and complete it after (the same upsert).
 */
export const deliveryAttempts = sqliteTable(
  "delivery_attempts",
  {
    /** An opaque id of the attempt (not a key: lookups go by delivery and attempt number). */
    id: text("id").notNull(),
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
  (t) => [primaryKey({ columns: [t.deliveryId, t.attemptNo] })],
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
 * expiry. Codes are 125 random bits, so two cards sharing one is out of reach (~n²/2¹²⁶). The card's
 * Durable Object (durable-objects/stored-value-card.ts) is the authority for its balance; the columns
 * from `available` on are its mirror for lists, look-ups and reports, written after each operation
 * (`txn_seq` orders those writes). `balance` is kept equal to `available` for older readers.
 *
 * `cards_code_hmac` serves POST /v1/cards/lookup. It is a random-order B-tree that dirties a page
 * per issued card (~25 of the ~62 µs of issuing a card in the delivery bench when it was removed):
 * the price of finding a card by its code without a scan. Not unique: 125-bit codes do not collide,
 * and a unique check would cost the same again for nothing. `cards_due` adds an entry per issued
 * card that expires (appended in time order, so cheap); lists reach cards through deliveries.
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
    // `void`: replaced by a reissue (or reversed before cards had a ledger); the others are the ledger's.
    status: text("status", { enum: ["active", "void", "frozen", "expired", "reversed", "exhausted"] }).notNull(),
    expiresAt: text("expires_at"),
    createdAt: text("created_at").notNull(),
    available: integer("available").notNull().default(0),
    pending: integer("pending").notNull().default(0),
    redeemed: integer("redeemed").notNull().default(0),
    expired: integer("expired").notNull().default(0),
    reversed: integer("reversed").notNull().default(0),
    // Of `reversed`, what came from the base value: the part of the delivery's pool item given back.
    baseReversed: integer("base_reversed").notNull().default(0),
    credited: integer("credited").notNull().default(0),
    // Bonus credits by pool, JSON [{ pool_id, committed }]: what each pool still commits for this card (reconciliation).
    credits: text("credits"),
    // The earliest expiry of a bonus bucket that still holds value (available or pending): GET /v1/cards?expiring_before= finds it.
    bonusExpiresAt: text("bonus_expires_at"),
    txnSeq: integer("txn_seq").notNull().default(0),
    updatedAt: text("updated_at"),
  },
  (t) => [
    uniqueIndex("cards_delivery").on(t.deliveryId),
    index("cards_code_hmac").on(t.codeHmac),
    // Reconciliation sums the bonus credits a pool commits; only credited cards have an entry. (Lists and
    // reports reach an org's cards through deliveries(org, id): no (org, id) index to pay at issuance.)
    index("cards_credited").on(t.org).where(sql`credits IS NOT NULL`),
    // The expiry cron finds cards past their expiry that still hold value, without a scan; a card
    // leaves the index once its Durable Object has expired (or reversed) it.
    index("cards_due").on(t.expiresAt).where(sql`status IN ('active', 'frozen', 'exhausted') AND expires_at IS NOT NULL`),
  ],
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
