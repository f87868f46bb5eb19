/** Cross-cutting tables: idempotency keys, the audit chain, write guards, the dev outbox. */
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
  (t) => [uniqueIndex("audit_events_org_seq").on(t.org, t.seq), index("audit_events_entity").on(t.org, t.entityId)],
);

export const now = () => new Date().toISOString();
export { sql };

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
