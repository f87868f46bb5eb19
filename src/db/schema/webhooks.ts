/**
 * Webhooks (API.md "Webhooks"): endpoints, the transactional outbox of events, one message per
 * event and endpoint, and every delivery attempt. Secrets are stored encrypted (AES-GCM).
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const webhookEndpoints = sqliteTable(
  "webhook_endpoints",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    url: text("url").notNull(),
    /** JSON array of event types, or ["*"]. */
    events: text("events").notNull(),
    description: text("description"),
    enabled: integer("enabled").notNull().default(1),
    disabledReason: text("disabled_reason"),
    /** AES-GCM ciphertext and IV (base64) of the signing secret; never the secret itself. */
    secretCiphertext: text("secret_ciphertext").notNull(),
    secretIv: text("secret_iv").notNull(),
    keyVersion: integer("key_version").notNull(),
    /** The secret before the last rotation: it still signs until previous_expires_at. */
    previousCiphertext: text("previous_ciphertext"),
    previousIv: text("previous_iv"),
    previousExpiresAt: text("previous_expires_at"),
    ownerSub: text("owner_sub").notNull(),
    ownerEmail: text("owner_email"),
    /** First failed attempt since the last success; five days of failures disable the endpoint. */
    failingSince: text("failing_since"),
    /**
     * Circuit breaker: after a failed attempt, the endpoint's other messages wait (no attempt made)
     * until this time, when one probe goes first (src/webhooks/send.ts). Null when the last attempt succeeded.
     */
    breakerUntil: text("breaker_until"),
    /**
     * The slow lane: until this time the endpoint's messages are sent from the webhooks slow queue, because a
     * send in the fast lane got no answer within 2 s (src/webhooks/lanes.ts). A failing endpoint (failing_since
     * set) is sent from the slow lane too, whatever this says.
     */
    slowLaneUntil: text("slow_lane_until"),
    /**
     * The backlog (src/webhooks/backlog.ts): while the endpoint is failing, the fan-out writes no message rows
     * for it; this is the first `webhook_events.seq` it has not been given messages for. Its messages are
     * materialised from the events, in seq order and in pages, once an attempt gets through again (or on
     * recover, on listing its deliveries, or when it is disabled). Null: every event has its message row.
     */
    backlogFromSeq: integer("backlog_from_seq"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [index("webhook_endpoints_org").on(t.org, t.enabled)],
);

/**
 * The outbox: one row per event, written in the same D1 transaction as the state change it reports
 * (src/webhooks/outbox.ts), and only when the org has an enabled endpoint. `seq` is strictly
 * increasing in commit order, so it orders one entity's events (the payload's `sequence`).
 */
export const webhookEvents = sqliteTable(
  "webhook_events",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    org: text("org").notNull(),
    type: text("type").notNull(),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    data: text("data").notNull(),
    createdAt: text("created_at").notNull(),
    /** Set once messages exist for every matching endpoint (the fan-out ran). */
    dispatchedAt: text("dispatched_at"),
  },
  // One index, because every outbox row is written in the batch of the change it reports (a delivery's
  // included): it serves the fan-out (IS NULL, org, by seq) and the sweep (IS NULL, then the few undispatched
  // rows). Messages point at events by seq (the primary key), so `id` needs no index of its own.
  (t) => [index("webhook_events_undispatched").on(t.dispatchedAt, t.org, t.seq)],
);

/**
 * One event for one endpoint (a "webhook delivery"): its status and retry schedule. WITHOUT ROWID
 * (hand-edited into its migration: drizzle cannot say it), so the text key is the table itself and a
 * new message writes its row and its four index entries, not a rowid row plus a key index too.
 */
export const webhookMessages = sqliteTable(
  "webhook_messages",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    endpointId: text("endpoint_id").notNull(),
    eventId: text("event_id").notNull(),
    eventSeq: integer("event_seq").notNull(),
    entityId: text("entity_id").notNull(),
    status: text("status", { enum: ["pending", "sending", "delivered", "failed"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: text("next_attempt_at").notNull(),
    leaseUntil: text("lease_until"),
    lastError: text("last_error"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("webhook_messages_event_endpoint").on(t.eventId, t.endpointId),
    index("webhook_messages_order").on(t.endpointId, t.entityId, t.eventSeq),
    // Neither index below holds a column that a send changes once the message ends, except the
    // partial one, which a delivered message simply leaves: ending a message rewrites 2 rows, not 5.
    // Ids start with their creation time, so (endpoint, id) serves the newest-first list and `recover { since }`.
    index("webhook_messages_endpoint_id").on(t.endpointId, t.id),
    index("webhook_messages_pending_due").on(t.nextAttemptAt).where(sql`status = 'pending'`),
  ],
);

/**
 * Every attempt to send a message: time, status code, latency, the first 1 KB of the answer, error.
 * Keyed by (message, attempt id) in a WITHOUT ROWID table (hand-edited into its migration), so an
 * attempt is one row written and no index entry: the deliveries list reads a message's attempts by
 * the key's prefix, and an attempt id names its message (src/webhooks/attempt-ids.ts), so a retry by
 * attempt id finds it by the whole key.
 */
export const webhookAttempts = sqliteTable(
  "webhook_attempts",
  {
    id: text("id").notNull(),
    org: text("org").notNull(),
    messageId: text("message_id").notNull(),
    endpointId: text("endpoint_id").notNull(),
    attemptedAt: text("attempted_at").notNull(),
    statusCode: integer("status_code"),
    latencyMs: integer("latency_ms").notNull(),
    responseBody: text("response_body"),
    error: text("error"),
    outcome: text("outcome", { enum: ["delivered", "retry", "failed"] }).notNull(),
    manual: integer("manual").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.messageId, t.id] })],
);

/**
 * pool.low_balance: a threshold per pool (PUT /v1/pools/{id}/low-balance-alert). The `*\/5` cron emits
 * the event when the pool's available balance is below it, at most once per 24 h (last_emitted_at).
 */
export const poolLowBalanceAlerts = sqliteTable(
  "pool_low_balance_alerts",
  {
    poolId: text("pool_id").primaryKey(),
    org: text("org").notNull(),
    threshold: integer("threshold").notNull(),
    lastEmittedAt: text("last_emitted_at"),
    updatedBy: text("updated_by").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [index("pool_low_balance_alerts_org").on(t.org)],
);

/**
 * campaign.budget_low: one row per campaign and budget amount whose low-budget mark was crossed
 * (src/webhooks/budget-low.ts). The key makes the event once per crossing: a top-up changes the
 * budget amount and so arms it again.
 */
export const campaignBudgetLowMarks = sqliteTable(
  "campaign_budget_low_marks",
  {
    campaignId: text("campaign_id").notNull(),
    budgetAmount: integer("budget_amount").notNull(),
    org: text("org").notNull(),
    committed: integer("committed").notNull(),
    emittedAt: text("emitted_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.campaignId, t.budgetAmount] })],
);
