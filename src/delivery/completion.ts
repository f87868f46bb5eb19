/**
 * A batch ends when every chunk has created its deliveries and none is queued, sending or held.
 * The hold's rest goes back to the pool exactly once (operation id per batch), then the batch moves
 * to completed or completed_with_errors. Safe to call any number of times, concurrently.
 */
import { AppError } from "../core/errors";
import { transitionBatch } from "../batches/batch-state";
import { findBatch } from "../batches/batches.service";
import type { Env } from "../env";
import { endBatchHold } from "../pools/batch-holds";

export async function completeBatchIfDone(env: Env, org: string, batchId: string): Promise<boolean> {
  // Index seeks only (deliveries_batch_status, delivery_chunks pk): this runs after every consumer
  // batch, so it must not read the batch's finished deliveries. Unfinished deliveries are asked about
  // first: while the batch delivers, one is found at once, and the chunks (which the second question
  // walks, ~1,000 for 1,000,000 recipients) are read only when none is left.
  const state = await env.DB.prepare(
    `SELECT CASE WHEN EXISTS (SELECT 1 FROM deliveries WHERE batch_id = ?1 AND status IN ('queued', 'sending', 'held') AND status <> 'delivered') THEN 1
                 WHEN EXISTS (SELECT 1 FROM delivery_chunks WHERE batch_id = ?1 AND done = 0) THEN 1 ELSE 0 END AS busy`,
  )
    .bind(batchId)
    .first<{ busy: number }>();
  if (!state || state.busy) return false;
  const failed = await env.DB.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE batch_id = ? AND status = 'failed' AND status <> 'delivered'")
    .bind(batchId)
    .first<{ n: number }>();
  const batch = await findBatch(env.DB, org, batchId);
  if (batch?.status !== "delivering") return false;
  const released = await endBatchHold(env, batch, "system:delivery");
  try {
    await transitionBatch(env.DB, {
      batch,
      to: failed!.n > 0 ? "completed_with_errors" : "completed",
      action: "batch.completed",
      actor: "system:delivery",
      details: { failed: failed!.n, hold_rest_released: released },
    });
  } catch (err) {
    if (!(err instanceof AppError && err.code === "invalid_state_transition")) throw err;
  }
  return true;
}
