/** Funding pools and the D1 mirror of their Durable Objects' journals. */
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { BUCKETS, type Bucket } from "../../../durable-objects/pool-types";

const bucketColumn = (name: string) => integer(name).notNull().default(0);
const bucketColumns = () => Object.fromEntries(BUCKETS.map((b) => [b, bucketColumn(b)])) as Record<Bucket, ReturnType<typeof bucketColumn>>;

/** Funding pools. The pool's Durable Object is the authority for its balance; these columns mirror it. */
export const pools = sqliteTable(
  "pools",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    name: text("name").notNull(),
    currency: text("currency").notNull(),
    limits: text("limits").notNull().default("{}"),
    // The DO's balance mirrored, one column per bucket (durable-objects/pool-types.ts BUCKETS).
    ...bucketColumns(),
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
  (t) => [primaryKey({ columns: [t.poolId, t.seq] }), index("pool_ledger_item").on(t.org, t.itemId), index("pool_ledger_hold").on(t.poolId, t.holdId)],
);
