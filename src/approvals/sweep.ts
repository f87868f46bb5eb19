/**
 * Cron sweeps of approvals: submitted or approved batches whose hold has expired become `expired`
 * (the pool's alarm may already have expired the hold: releasing its rest then answers 0), and
 * side exits whose hold release did not finish (a crash after the status change) are finished.
 */
import { AppError } from "../core/errors";
import { findBatch } from "../batches/batches.service";
import type { Env } from "../env";
import { exitBatch, settleExitHold, type ExitStatus } from "./exit";

export const EXPIRY_ACTOR = "system:expiry";
const SWEEP_BATCH = 50;
const SETTLE_DELAY_MS = 60_000;

export async function expireSubmissions(env: Env, now: Date): Promise<number> {
  const { results } = await env.DB.prepare(
    `SELECT org, batch_id FROM approval_flows WHERE state IN ('open', 'approved') AND hold_expires_at <= ? ORDER BY hold_expires_at LIMIT ?`,
  )
    .bind(now.toISOString(), SWEEP_BATCH)
    .all<{ org: string; batch_id: string }>();
  let expired = 0;
  for (const r of results) {
    const batch = await findBatch(env.DB, r.org, r.batch_id);
    if (!batch || (batch.status !== "submitted" && batch.status !== "approved")) continue;
    try {
      await exitBatch(env, { batch, to: "expired", actor: EXPIRY_ACTOR, details: { reason: "The funds hold expired before the batch was released" } });
      expired++;
    } catch (err) {
      if (!(err instanceof AppError && (err.code === "invalid_state_transition" || err.code === "conflict"))) throw err;
    }
  }
  return expired;
}

export async function finishExitHolds(env: Env, now: Date): Promise<number> {
  const { results } = await env.DB.prepare(
    `SELECT org, batch_id, state, exit_actor FROM approval_flows
     WHERE state IN ('rejected', 'cancelled', 'expired') AND hold_released_at IS NULL AND closed_at <= ? LIMIT ?`,
  )
    .bind(new Date(now.getTime() - SETTLE_DELAY_MS).toISOString(), SWEEP_BATCH)
    .all<{ org: string; batch_id: string; state: ExitStatus; exit_actor: string | null }>();
  for (const r of results) {
    const batch = await findBatch(env.DB, r.org, r.batch_id);
    if (batch) await settleExitHold(env, batch, r.exit_actor ?? EXPIRY_ACTOR, r.state);
  }
  return results.length;
}
