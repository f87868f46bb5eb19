/**
 * pool.low_balance: each pool may have a threshold; the `*\/5` cron emits the event (through
 * appendAudit, so through the outbox) for every pool whose mirrored available balance is below it,
 * at most once per 24 h per pool. The threshold row's last_emitted_at is moved in the same batch,
 * guarded, so two overlapping cron runs emit once.
 */
import { appendAudit } from "../audit/audit";
import { isGuardFailure, requireChanged } from "../core/guard";
import type { Auth, Env } from "../env";
import { requirePool } from "../pools/pools.service";

export const LOW_BALANCE_EVERY_MS = 24 * 3600 * 1000;

export async function setLowBalanceThreshold(env: Env, auth: Auth, poolId: string, threshold: number, requestId?: string) {
  const pool = await requirePool(env.DB, auth.org, poolId);
  const at = new Date().toISOString();
  await appendAudit(
    env.DB,
    auth.org,
    [{ actor: auth.sub, action: "pool.low_balance_threshold_set", entityType: "pool", entityId: pool.id, after: { threshold }, requestId }],
    [
      env.DB.prepare(
        `INSERT INTO pool_low_balance_alerts (pool_id, org, threshold, updated_by, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
       ON CONFLICT (pool_id) DO UPDATE SET threshold = excluded.threshold, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
      ).bind(pool.id, auth.org, threshold, auth.sub, at),
    ],
  );
  return { pool_id: pool.id, threshold, currency: pool.currency, available: pool.available, below: pool.available < threshold };
}

interface Low {
  pool_id: string;
  org: string;
  threshold: number;
  last_emitted_at: string | null;
  available: number;
  currency: string;
}

export async function emitLowBalances(env: Env, now: Date): Promise<number> {
  const since = new Date(now.getTime() - LOW_BALANCE_EVERY_MS).toISOString();
  const { results } = await env.DB.prepare(
    `SELECT a.pool_id, a.org, a.threshold, a.last_emitted_at, p.available, p.currency
       FROM pool_low_balance_alerts a JOIN pools p ON p.id = a.pool_id
       WHERE p.available < a.threshold AND (a.last_emitted_at IS NULL OR a.last_emitted_at < ?1) LIMIT 500`,
  )
    .bind(since)
    .all<Low>();
  let emitted = 0;
  for (const low of results) {
    const claim = env.DB.prepare(
      "UPDATE pool_low_balance_alerts SET last_emitted_at = ?1 WHERE pool_id = ?2 AND (last_emitted_at IS NULL OR last_emitted_at < ?3)",
    ).bind(now.toISOString(), low.pool_id, since);
    try {
      await appendAudit(
        env.DB,
        low.org,
        [
          {
            actor: "system:webhooks",
            action: "pool.low_balance",
            entityType: "pool",
            entityId: low.pool_id,
            after: { pool_id: low.pool_id, available: low.available, threshold: low.threshold, currency: low.currency },
          },
        ],
        [claim, requireChanged(env.DB)],
      );
      emitted++;
    } catch (err) {
      if (!isGuardFailure(err)) throw err; // another run emitted it
    }
  }
  return emitted;
}
