/**
 * The `pools` bench's reference (bench-only; test/bench/worker.mjs binds it as BENCH_PROBE, nothing in
 * wrangler.toml): a SQLite-backed Durable Object whose one RPC writes one row. A ledger operation can
 * never be cheaper than this bare write RPC on the same machine in the same run, so the bench prints
 * the pool's ops/s as a ratio to it.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";

export class BenchProbe extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS writes (id TEXT PRIMARY KEY, amount INTEGER NOT NULL)");
  }

  /** One row written in its own implicit transaction, like a ledger operation's. */
  write(id: string, amount: number): { ok: true } {
    this.ctx.storage.sql.exec("INSERT INTO writes (id, amount) VALUES (?, ?)", id, amount);
    return { ok: true };
  }
}
