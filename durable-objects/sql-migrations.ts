/**
 * Versioned, append-only schema migrations for a Durable Object's SQLite storage: the D1 way
 * (migrations/) for the objects' own tables. Each object records the migrations it ran with a hash
 * of their SQL; on construction it runs those it has not, in order, inside one transaction. A past
 * migration whose SQL was edited after objects ran it is refused (the object will not start): the
 * running objects would disagree about their schema, so a change is always a new migration.
 */

export interface SqlMigration {
  /** 1, 2, 3, … without gaps, in the order they run. */
  version: number;
  /** What it does, for people reading the list. */
  name: string;
  sql: string;
}

const fingerprints = new Map<string, string>();

/**
 * FNV-1a over the SQL text: a fingerprint that a later edit of the migration changes (not a security
 * hash). Remembered per text: every object that starts checks its migrations, and hashing the schema
 * again each time was a visible part of a card object's start.
 */
export function fingerprint(sql: string): string {
  let known = fingerprints.get(sql);
  if (known === undefined) {
    known = fnv1a(sql);
    fingerprints.set(sql, known);
  }
  return known;
}

function fnv1a(sql: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < sql.length; i++) {
    h ^= sql.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

export class EditedMigrationError extends Error {}

/**
 * Runs the migrations `storage` has not run yet. Call it from the object's constructor inside
 * `blockConcurrencyWhile` (or from code that already runs before any request), never per request.
 */
export function migrate(storage: DurableObjectStorage, migrations: readonly SqlMigration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`Durable Object migration ${m.name} is numbered ${m.version}, expected ${i + 1}`);
  });
  const sql = storage.sql;
  storage.transactionSync(() => {
    sql.exec("CREATE TABLE IF NOT EXISTS _migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    const applied = new Map(
      sql
        .exec<{ version: number; hash: string }>("SELECT version, hash FROM _migrations")
        .toArray()
        .map((r) => [r.version, r.hash]),
    );
    for (const m of migrations) {
      const hash = fingerprint(m.sql);
      const ran = applied.get(m.version);
      if (ran !== undefined) {
        if (ran !== hash)
          throw new EditedMigrationError(`Durable Object migration ${m.version} (${m.name}) was edited after it ran; add a new migration instead`);
        continue;
      }
      sql.exec(m.sql);
      sql.exec("INSERT INTO _migrations (version, name, hash, applied_at) VALUES (?, ?, ?, ?)", m.version, m.name, hash, Date.now());
    }
  });
}

/** The migrations an object has run, oldest first (tests, support). */
export function appliedMigrations(sql: SqlStorage): { version: number; name: string; hash: string }[] {
  return sql.exec<{ version: number; name: string; hash: string }>("SELECT version, name, hash FROM _migrations ORDER BY version").toArray();
}
