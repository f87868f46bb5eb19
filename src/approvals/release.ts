/**
 * Release: the hand-off from approvals to delivery. `releaseBatch` is the one function that moves
 * an approved batch to `releasing` and enqueues the fan-out; final approval (auto-release without
 * release_at), the cron (at release_at) and the operator's POST /release all call it.
 */
import { AppError } from "../core/errors";
import { enqueueRelease } from "../delivery/hand-off";
import type { Auth, Env } from "../env";
import { closeFlow, findFlow } from "./store";
import { transitionBatch, illegalTransition, type BatchRow } from "../batches/batch-state";
import { batchView, findBatch, requireBatch } from "../batches/batches.service";

export const CRON_RELEASE_ACTOR = "system:scheduled-release";
const CRON_BATCH = 50;

export async function releaseBatch(env: Env, batch: BatchRow, actor: string, requestId?: string): Promise<void> {
  // Already releasing: the earlier hand-off may have been lost; delivery treats a repeated release message as a no-op.
  if (batch.status !== "releasing") {
    const flow = await findFlow(env.DB, batch.org, batch.id);
    const now = new Date().toISOString();
    await transitionBatch(env.DB, {
      batch,
      to: "releasing",
      action: "batch.released",
      actor,
      requestId,
      extra: flow ? closeFlow(env.DB, batch.id, ["approved"], "released", now) : [],
      details: { release_at: batch.releaseAt, valid_count: batch.validCount, valid_total: batch.validTotal },
    });
  }
  await enqueueRelease(env, batch.org, batch.id);
}

/** POST /v1/batches/{id}/release: an approved batch, not before its release_at. */
export async function releaseByOperator(env: Env, auth: Auth, id: string, requestId?: string) {
  const batch = await requireBatch(env.DB, auth.org, id);
  if (batch.status !== "approved" && batch.status !== "releasing") throw illegalTransition(batch.id, batch.status, "releasing");
  if (batch.status === "approved" && batch.releaseAt && Date.parse(batch.releaseAt) > Date.now()) {
    throw new AppError("invalid_state_transition", `Batch ${id} is scheduled for release at ${batch.releaseAt}`, {
      batch_status: batch.status,
      release_at: batch.releaseAt,
    });
  }
  await releaseBatch(env, batch, auth.sub, requestId);
  return batchView(await requireBatch(env.DB, auth.org, id));
}

/**
 * Cron: approved auto-release batches whose release_at has come, and any whose immediate release at
 * final approval did not happen (release_at unset).
 */
export async function releaseDueBatches(env: Env, now: Date): Promise<number> {
  const { results } = await env.DB.prepare(
    `SELECT b.org, b.id FROM approval_flows f JOIN batches b ON b.id = f.batch_id
     WHERE f.state = 'approved' AND f.auto_release = 1 AND b.status = 'approved' AND (b.release_at IS NULL OR b.release_at <= ?1)
     ORDER BY f.updated_at LIMIT ?2`,
  )
    .bind(now.toISOString(), CRON_BATCH)
    .all<{ org: string; id: string }>();
  let released = 0;
  for (const r of results) {
    const batch = await findBatch(env.DB, r.org, r.id);
    if (batch?.status !== "approved") continue;
    try {
      await releaseBatch(env, batch, CRON_RELEASE_ACTOR);
      released++;
    } catch (err) {
      // Someone else moved it meanwhile (cancel, operator release): nothing left to do here.
      if (!(err instanceof AppError && (err.code === "invalid_state_transition" || err.code === "conflict"))) throw err;
    }
  }
  return released;
}
