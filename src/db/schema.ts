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
  },
  (t) => [
    primaryKey({ columns: [t.poolId, t.seq] }),
    index("pool_ledger_item").on(t.org, t.itemId),
    index("pool_ledger_hold").on(t.poolId, t.holdId),
  ],
);
