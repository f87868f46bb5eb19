/**
 * The pool Durable Object's own schema is versioned like D1's: append-only migrations, each run
 * once per object, an edited past one refused, and pools from before the versioning adopted.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { POOL_MIGRATIONS } from "../durable-objects/pool-migrations";
import { PoolStore } from "../durable-objects/pool-store";
import { appliedMigrations, EditedMigrationError, migrate } from "../durable-objects/sql-migrations";

async function freshPool() {
  const stub = env.FUNDING_POOL.get(env.FUNDING_POOL.idFromName(`mig-${crypto.randomUUID()}`));
  await stub.init({ poolId: `pool_${crypto.randomUUID()}`, org: "acme", currency: "USD", limits: {} });
  return stub;
}

const columns = (sql: SqlStorage, table: string) =>
  sql
    .exec<{ name: string }>(`SELECT name FROM pragma_table_info('${table}')`)
    .toArray()
    .map((c) => c.name);

describe("the pool DO's schema migrations", () => {
  it("runs every migration once on a new pool, in order, and nothing again on the next start", async () => {
    const stub = await freshPool();
    await runInDurableObject(stub, (_instance, state) => {
      const applied = appliedMigrations(state.storage.sql);
      expect(applied.map((m) => m.version)).toEqual(POOL_MIGRATIONS.map((m) => m.version));
      expect(columns(state.storage.sql, "holds")).toContain("touched_at");
      new PoolStore(state.storage); // a restart: the ALTERs would fail if they ran again
      expect(appliedMigrations(state.storage.sql)).toEqual(applied);
    });
  });

  it("refuses to start with a past migration edited after it ran", async () => {
    const stub = await freshPool();
    await runInDurableObject(stub, (_instance, state) => {
      const edited = POOL_MIGRATIONS.map((m) => (m.version === 2 ? { ...m, sql: "ALTER TABLE journal ADD COLUMN item_ids TEXT;" } : m));
      expect(() => migrate(state.storage, edited)).toThrow(EditedMigrationError);
      expect(columns(state.storage.sql, "journal")).not.toContain("item_ids");
    });
  });

  it("runs a migration added at the end, and refuses a list with a gap", async () => {
    const stub = await freshPool();
    await runInDurableObject(stub, (_instance, state) => {
      const next = [...POOL_MIGRATIONS, { version: POOL_MIGRATIONS.length + 1, name: "test column", sql: "ALTER TABLE items ADD COLUMN note TEXT;" }];
      migrate(state.storage, next);
      expect(columns(state.storage.sql, "items")).toContain("note");
      expect(() => migrate(state.storage, [...next, { version: next.length + 2, name: "gap", sql: "SELECT 1;" }])).toThrow(/expected/);
    });
  });

  it("adopts a pool created before the versioning without running its ALTERs twice", async () => {
    const stub = await freshPool();
    await stub.fund({ opId: "f", amount: 500, actor: "t" });
    await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      // What such a pool looks like: its tables, journal.items from the old probe, no touched_at, no _migrations.
      sql.exec("DROP TABLE _migrations");
      sql.exec("ALTER TABLE holds DROP COLUMN touched_at");
      new PoolStore(state.storage);
      expect(appliedMigrations(sql).map((m) => m.version)).toEqual(POOL_MIGRATIONS.map((m) => m.version));
      expect(columns(sql, "holds")).toContain("touched_at");
      expect(sql.exec<{ n: number }>("SELECT count(*) AS n FROM journal").one().n).toBe(1);
    });
  });
});
