/**
 * Counters for `npm run bench -- delivery`: D1 queries and rows read and written (from D1 result
 * metadata) and pool DO calls of the queue consumers. Only the benchmarks' entry
 * (src/dev/bench-worker.ts) uses them, and only when ENVIRONMENT is "bench"; elsewhere `instrument`
 * returns the env untouched. Provider calls are counted by the bench's fake provider
 * (test/bench/fake-resend.mjs).
 */
import type { Env } from "../env";

export const counters = { d1_queries: 0, d1_rows_read: 0, d1_rows_written: 0, do_calls: 0 };
/** Rows written by statement ("INSERT INTO audit_events", "UPDATE cards", ...): where a figure comes from. */
export const writesByStatement: Record<string, number> = {};

export function resetCounters(): void {
  for (const k of Object.keys(counters) as (keyof typeof counters)[]) counters[k] = 0;
  for (const k of Object.keys(writesByStatement)) delete writesByStatement[k];
}

type Meta = { meta?: { rows_read?: number; rows_written?: number } };
function addMeta(r: Meta | undefined, sql?: string) {
  counters.d1_queries++;
  counters.d1_rows_read += r?.meta?.rows_read ?? 0;
  const written = r?.meta?.rows_written ?? 0;
  counters.d1_rows_written += written;
  if (written > 0 && sql) {
    const key = /^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+[`"]?(\w+)/i.exec(sql)?.slice(1, 3).join(" ").replace(/\s+/g, " ") ?? sql.trim().slice(0, 30);
    writesByStatement[key] = (writesByStatement[key] ?? 0) + written;
  }
}

const real = new WeakMap<object, D1PreparedStatement>();
const sqlOf = new WeakMap<object, string>();

function wrapStatement(stmt: D1PreparedStatement, sql: string): D1PreparedStatement {
  const proxy = new Proxy(stmt, {
    get(target, prop) {
      if (prop === "bind") return (...args: unknown[]) => wrapStatement(target.bind(...args), sql);
      if (prop === "run" || prop === "all")
        return async () => {
          const r = await target[prop]();
          addMeta(r, sql);
          return r;
        };
      if (prop === "first") {
        return async (column?: string) => {
          const r = await target.all<Record<string, unknown>>();
          addMeta(r, sql);
          const row = r.results[0] ?? null;
          return column && row ? row[column] : row;
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  real.set(proxy, stmt);
  sqlOf.set(proxy, sql);
  return proxy;
}

/** One counting proxy per binding: a fresh one per request would also defeat createDb's per-binding cache. */
const wrapped = new WeakMap<D1Database, D1Database>();

function wrapD1(db: D1Database): D1Database {
  let proxy = wrapped.get(db);
  if (!proxy) {
    proxy = countingD1(db);
    wrapped.set(db, proxy);
  }
  return proxy;
}

function countingD1(db: D1Database): D1Database {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => wrapStatement(target.prepare(sql), sql);
      if (prop === "batch") {
        return async (stmts: D1PreparedStatement[]) => {
          const rs = await target.batch(stmts.map((s) => real.get(s) ?? s));
          rs.forEach((r, i) => {
            addMeta(r, sqlOf.get(stmts[i]!));
          });
          return rs;
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

function wrapPools(ns: Env["FUNDING_POOL"]): Env["FUNDING_POOL"] {
  return new Proxy(ns, {
    get(target, prop) {
      if (prop !== "get") {
        const v = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      }
      return (id: DurableObjectId) => {
        const stub = target.get(id);
        return new Proxy(stub, {
          get(s, method) {
            const v = Reflect.get(s, method, s);
            if (typeof v !== "function") return v;
            // Reflect.apply, not v.apply: on an RPC stub `.apply` would itself be taken for a remote method.
            return (...args: unknown[]) => {
              counters.do_calls++;
              return Reflect.apply(v as (...a: unknown[]) => unknown, s, args);
            };
          },
        });
      };
    },
  });
}

export function instrument(env: Env): Env {
  if (env.ENVIRONMENT !== "bench") return env;
  return { ...env, DB: wrapD1(env.DB), FUNDING_POOL: wrapPools(env.FUNDING_POOL) };
}
