// Query-plan checks shared by the tests that hold statements to indexes (test/query-plans,
// customers.query-plans, schedules): without statistics, local SQLite plans from the indexes alone,
// so a statement that reads a table whole shows a SCAN of it on small data.
import { env } from "cloudflare:workers";

/**
 * Records every SQL text D1 prepares in this isolate (the Worker runs here, so that is every
 * statement the API, queues and cron make) until `stop()`.
 */
export function recordPrepared(): { seen: Set<string>; stop: () => void } {
  const seen = new Set<string>();
  const proto = Object.getPrototypeOf(env.DB) as { prepare: (this: D1Database, sql: string) => D1PreparedStatement };
  const prepare = proto.prepare;
  proto.prepare = function (sql: string) {
    seen.add(sql);
    return prepare.call(this, sql);
  };
  const stop = () => {
    proto.prepare = prepare;
  };
  return { seen, stop };
}

/** EXPLAIN QUERY PLAN of `sql`, its parameters (numbered or not) bound to null. */
export async function plan(sql: string): Promise<string[]> {
  const numbered = Math.max(0, ...[...sql.matchAll(/\?(\d+)/g)].map((m) => Number(m[1])));
  const plain = (sql.replace(/\?\d+/g, "").match(/\?/g) ?? []).length;
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .bind(...Array(Math.max(numbered, plain)).fill(null))
    .all<{ detail: string }>();
  return results.map((r) => r.detail);
}

/** The database's table names. */
export async function tableNames(): Promise<Set<string>> {
  const { results } = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all<{ name: string }>();
  return new Set(results.map((r) => r.name));
}

/** The tables a statement scans whole: SCAN lines whose name is a table or a table's alias (not a CTE, json_each or subquery). */
export async function tableScans(sql: string, tables: Set<string>): Promise<string[]> {
  const aliases = new Set<string>();
  // Names may be quoted (drizzle writes "deliveries"); SQLite's plan names them bare.
  for (const m of sql.matchAll(/\b(?:FROM|JOIN|UPDATE|INTO)\s+["`]?(\w+)["`]?(?:\s+(?:AS\s+)?["`]?(\w+)["`]?)?/gi)) {
    if (!tables.has(m[1]!)) continue;
    aliases.add(m[1]!);
    if (m[2] && !/^(WHERE|ON|SET|JOIN|LEFT|INNER|CROSS|GROUP|ORDER|LIMIT|INDEXED|USING|VALUES|SELECT|AND)$/i.test(m[2])) aliases.add(m[2]);
  }
  return (await plan(sql)).filter((line) => aliases.has(/^SCAN (\w+)/.exec(line)?.[1] ?? ""));
}
