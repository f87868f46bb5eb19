/**
 * Counters for the benchmarks: D1 queries and rows read and written (from D1 result metadata, in
 * all and per statement), pool DO calls and queue messages sent, kept apart for the queue consumers,
 * the scheduled triggers and the event routes (`instrument(env, into)` picks the set). Only the benchmarks' entry
 * (src/dev/bench-worker.ts) uses them, and only when ENVIRONMENT is "bench"; elsewhere `instrument`
 * returns the env untouched. Provider calls are counted by the bench's fake provider
 * (test/bench/fake-resend.mjs).
 */
import type { Env } from "../env";

/** [queries, rows read, rows written] of one statement (its SQL's first words). */
export type StatementCounts = [number, number, number];

export type Counters = {
  d1_queries: number;
  d1_rows_read: number;
  d1_rows_written: number;
  do_calls: number;
  queue_messages: number;
  /** Card Durable Objects constructed (a cold start: the object opens its SQLite storage and checks its migrations). */
  card_object_starts: number;
  /** The same per statement, for the breakdowns in test/bench/README.md: where the rows go. */
  by_statement: Record<string, StatementCounts>;
};
const zero = (): Counters => ({ d1_queries: 0, d1_rows_read: 0, d1_rows_written: 0, do_calls: 0, queue_messages: 0, card_object_starts: 0, by_statement: {} });
/** The queue consumers' work (`npm run bench -- delivery`, and the deliveries of the other benches). */
export const counters = zero();
/** What the scheduled triggers' tick and their queue consumer did (`npm run bench -- schedules`), apart from delivery. */
export const scheduleCounters = zero();
/** The event routes' work (`npm run bench -- events`: POST /v1/events/batch evaluates inline). */
export const eventCounters = zero();

/** Rows written by table and verb ("INSERT INTO audit_events", "UPDATE cards", …), from a set's `by_statement`: where a figure comes from. */
export function writesByTable(c: Counters): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [sql, [, , written]] of Object.entries(c.by_statement)) {
    if (written === 0) continue;
    const key =
      /^\s*(INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+[`"]?(\w+)/i.exec(sql)?.slice(1, 3).join(" ").replace(/\s+/g, " ") ?? sql.slice(0, 30);
    out[key] = (out[key] ?? 0) + written;
  }
  return out;
}

export function resetCounters(): void {
  for (const c of [counters, scheduleCounters, eventCounters]) Object.assign(c, zero());
}

type Meta = { meta?: { rows_read?: number; rows_written?: number } };
function addMeta(into: Counters, r: Meta | undefined, sql: string | undefined) {
  const read = r?.meta?.rows_read ?? 0;
  const written = r?.meta?.rows_written ?? 0;
  into.d1_queries++;
  into.d1_rows_read += read;
  into.d1_rows_written += written;
  const key = (sql ?? "?").replace(/\s+/g, " ").trim().slice(0, 90);
  const s = into.by_statement[key] ?? [0, 0, 0];
  into.by_statement[key] = s;
  s[0]++;
  s[1] += read;
  s[2] += written;
}

const real = new WeakMap<object, D1PreparedStatement>();
const sqlOf = new WeakMap<object, string>();

function wrapStatement(stmt: D1PreparedStatement, sql: string, into: Counters): D1PreparedStatement {
  const proxy = new Proxy(stmt, {
    get(target, prop) {
      if (prop === "bind") return (...args: unknown[]) => wrapStatement(target.bind(...args), sql, into);
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

/** One counting proxy per binding and counter set: a fresh one per request would also defeat createDb's per-binding cache. */
const wrapped = new WeakMap<D1Database, Map<Counters, D1Database>>();

function wrapD1(db: D1Database, into: Counters): D1Database {
  const byCounters = wrapped.get(db) ?? new Map<Counters, D1Database>();
  wrapped.set(db, byCounters);
  const proxy = byCounters.get(into) ?? countingD1(db, into);
  byCounters.set(into, proxy);
  return proxy;
}

function countingD1(db: D1Database, into: Counters): D1Database {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => wrapStatement(target.prepare(sql), sql, into);
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

/** Counts the messages a queue binding sends (each is billed as a write, a read and a delete). */
function wrapQueue(queue: Queue, into: Counters): Queue {
  return {
    send: (body, options) => {
      into.queue_messages++;
      return queue.send(body, options);
    },
    sendBatch: (messages, options) => {
      const list = [...messages];
      into.queue_messages += list.length;
      return queue.sendBatch(list, options);
    },
  } as Queue;
}

export function instrument(env: Env, into: Counters = counters): Env {
  if (env.ENVIRONMENT !== "bench") return env;
  return {
    ...env,
    DB: wrapD1(env.DB, into),
    FUNDING_POOL: wrapPools(env.FUNDING_POOL, into),
    DELIVERY_QUEUE: wrapQueue(env.DELIVERY_QUEUE, into),
    WEBHOOK_QUEUE: wrapQueue(env.WEBHOOK_QUEUE, into),
  };
}
