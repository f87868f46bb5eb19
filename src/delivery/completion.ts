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
  // batch, so it must not read the batch's finished deliveries.
  const state = await env.DB.prepare(
    `SELECT EXISTS (SELECT 1 FROM delivery_chunks WHERE batch_id = ?1 AND done = 0) AS open_chunks,
            EXISTS (SELECT 1 FROM deliveries WHERE batch_id = ?1 AND status IN ('queued', 'sending', 'held') AND status <> 'delivered') AS pending`,
  )
    .bind(batchId)
    .first<{ open_chunks: number; pending: number }>();
  if (!state || state.open_chunks || state.pending) return false;
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
