/**
 * The pool Durable Object's own schema: its migrations, in order, and the one-time adoption of
 * pools created before they were versioned. `PoolStore` runs them on construction.
 */
import { fingerprint, type SqlMigration } from "./sql-migrations";

/**
 * The pool's tables, one append-only migration each change (sql-migrations.ts refuses an edited
 * past one): to change the schema, add a migration at the end.
 */
export const POOL_MIGRATIONS: readonly SqlMigration[] = [
  {
    version: 1,
    name: "pool, operations, holds, items, daily totals, journal, mirror watermark",
    sql: `
CREATE TABLE IF NOT EXISTS pool (
  id INTEGER PRIMARY KEY CHECK (id = 1), pool_id TEXT NOT NULL, org TEXT NOT NULL, currency TEXT NOT NULL,
  limits TEXT NOT NULL, available INTEGER NOT NULL, reserved INTEGER NOT NULL, committed INTEGER NOT NULL,
  funded INTEGER NOT NULL, released INTEGER NOT NULL, reversed INTEGER NOT NULL, withdrawn INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ops (op_id TEXT PRIMARY KEY, kind TEXT NOT NULL, args TEXT NOT NULL, result TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS holds (
  hold_id TEXT PRIMARY KEY, amount INTEGER NOT NULL, remaining INTEGER NOT NULL, committed INTEGER NOT NULL,
  released INTEGER NOT NULL, state TEXT NOT NULL, expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS holds_pending ON holds (state, expires_at);
CREATE TABLE IF NOT EXISTS items (
  item_id TEXT PRIMARY KEY, hold_id TEXT NOT NULL, amount INTEGER NOT NULL, recipient_key TEXT NOT NULL,
  day TEXT NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS daily_totals (day TEXT PRIMARY KEY, committed INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
  seq INTEGER PRIMARY KEY, op_id TEXT NOT NULL, kind TEXT NOT NULL, hold_id TEXT, item_id TEXT, amount INTEGER NOT NULL,
  before TEXT NOT NULL, after TEXT NOT NULL, actor TEXT NOT NULL, reference TEXT, created_at INTEGER NOT NULL);
-- How far the D1 mirror has confirmed the journal: one watermark, not a flag per entry.
CREATE TABLE IF NOT EXISTS mirror (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);
INSERT OR IGNORE INTO mirror (id, seq) VALUES (1, 0);`,
  },
  { version: 2, name: "a commit entry lists its item ids", sql: "ALTER TABLE journal ADD COLUMN items TEXT;" },
  { version: 3, name: "holds remember when a submit last used them (orphan-hold sweep)", sql: "ALTER TABLE holds ADD COLUMN touched_at INTEGER;" },
  {
    version: 4,
    name: "campaign cap counters and the counters each campaign reward took",
    sql: `
-- One row per campaign, scope (a customer key, or '*' for the whole campaign) and period window:
-- caps read one row each, however many rewards the campaign has paid.
CREATE TABLE IF NOT EXISTS campaign_counters (
  campaign_id TEXT NOT NULL, scope TEXT NOT NULL, period TEXT NOT NULL, count INTEGER NOT NULL, amount INTEGER NOT NULL,
  PRIMARY KEY (campaign_id, scope, period)) WITHOUT ROWID;
-- Which counters a committed campaign reward added to, so a refund (rejected approval) takes it back off them.
CREATE TABLE IF NOT EXISTS campaign_items (
  item_id TEXT PRIMARY KEY, campaign_id TEXT NOT NULL, customer_key TEXT, customer_period TEXT, campaign_period TEXT) WITHOUT ROWID;`,
  },
];

/**
 * Pools created before the migrations were versioned ran their DDL on every construction and
 * added columns by probing for them; such a pool records the migrations its columns show it has,
 * once, so that none runs twice. Nothing to do for a pool created since.
 */
export function adoptUnversioned(sql: SqlStorage): void {
  const tables = new Set(
    sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
      .toArray()
      .map((t) => t.name),
  );
  if (tables.has("_migrations") || !tables.has("journal")) return;
  const has = (table: string, column: string) =>
    sql
      .exec<{ name: string }>(`SELECT name FROM pragma_table_info('${table}')`)
      .toArray()
      .some((c) => c.name === column);
  const done = [POOL_MIGRATIONS[0]!, ...(has("journal", "items") ? [POOL_MIGRATIONS[1]!] : [])];
  if (done.length === 2 && has("holds", "touched_at")) done.push(POOL_MIGRATIONS[2]!);
  sql.exec("CREATE TABLE _migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL, applied_at INTEGER NOT NULL)");
  for (const m of done)
    sql.exec("INSERT INTO _migrations (version, name, hash, applied_at) VALUES (?, ?, ?, ?)", m.version, m.name, fingerprint(m.sql), Date.now());
}
