/**
 * Counters for `npm run bench -- delivery`: D1 queries and rows read and written (from D1 result
 * metadata) and pool DO calls of the queue consumers. Only the benchmarks' entry
 * (src/dev/bench-worker.ts) uses them, and only when ENVIRONMENT is "bench"; elsewhere `instrument`
 * returns the env untouched. Provider calls are counted by the bench's fake provider
 * (test/bench/fake-resend.mjs).
 */
import type { Env } from "../env";

export type Counters = {
  d1_queries: number;
  d1_rows_read: number;
  d1_rows_written: number;
  do_calls: number;
  /** The same, per statement (its first 80 characters): where the rows go. */
  by_statement: Record<string, { queries: number; rows_read: number; rows_written: number }>;
};
const zero = (): Counters => ({ d1_queries: 0, d1_rows_read: 0, d1_rows_written: 0, do_calls: 0, by_statement: {} });
/** The queue consumers' work. */
export const counters = zero();
/** The event routes' work (`npm run bench -- events`: POST /v1/events/batch evaluates inline). */
export const eventCounters = zero();

export function resetCounters(): void {
  for (const c of [counters, eventCounters]) Object.assign(c, zero());
}

type Meta = { meta?: { rows_read?: number; rows_written?: number } };
function addMeta(target: Counters, r: Meta | undefined, sql: string | undefined) {
  target.d1_queries++;
  target.d1_rows_read += r?.meta?.rows_read ?? 0;
  target.d1_rows_written += r?.meta?.rows_written ?? 0;
  const key = (sql ?? "?").replace(/\s+/g, " ").trim().slice(0, 80);
  const s = target.by_statement[key] ?? { queries: 0, rows_read: 0, rows_written: 0 };
  target.by_statement[key] = s;
  s.queries++;
  s.rows_read += r?.meta?.rows_read ?? 0;
  s.rows_written += r?.meta?.rows_written ?? 0;
}

const real = new WeakMap<object, D1PreparedStatement>();
const sqlOf = new WeakMap<object, string>();

function wrapStatement(stmt: D1PreparedStatement, into: Counters, sql: string): D1PreparedStatement {
  const proxy = new Proxy(stmt, {
    get(target, prop) {
      if (prop === "bind") return (...args: unknown[]) => wrapStatement(target.bind(...args), into, sql);
      if (prop === "run" || prop === "all")
        return async () => {
          const r = await target[prop]();
          addMeta(into, r, sql);
          return r;
        };
      if (prop === "first") {
        return async (column?: string) => {
          const r = await target.all<Record<string, unknown>>();
          addMeta(into, r, sql);
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

function wrapD1(db: D1Database, into: Counters): D1Database {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => wrapStatement(target.prepare(sql), into, sql);
      if (prop === "batch") {
        return async (stmts: D1PreparedStatement[]) => {
          const rs = await target.batch(stmts.map((s) => real.get(s) ?? s));
          for (const [i, r] of rs.entries()) addMeta(into, r, sqlOf.get(stmts[i]!));
          return rs;
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

function wrapPools(ns: Env["FUNDING_POOL"], into: Counters): Env["FUNDING_POOL"] {
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
              into.do_calls++;
              return Reflect.apply(v as (...a: unknown[]) => unknown, s, args);
            };
          },
        });
      };
    },
  });
}

export function instrument(env: Env, into: Counters = counters): Env {
  if (env.ENVIRONMENT !== "bench") return env;
  return { ...env, DB: wrapD1(env.DB, into), FUNDING_POOL: wrapPools(env.FUNDING_POOL, into) };
}
