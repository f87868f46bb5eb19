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
