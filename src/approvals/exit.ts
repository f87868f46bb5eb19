/**
 * Side exits of a batch that may hold funds (rejected, cancelled, expired): one transaction moves
 * the batch, closes its approval flow (recording who caused the exit) and marks pending links
 * superseded; then the hold's rest goes back to the pool. The release replays by operation id
 * and `hold_released_at` records it, so a crash in between is finished by the cron sweep and the
 * value comes back exactly once.
 */
import { appendAudit, type AuditInput } from "../audit/audit";
import { transitionBatch, type BatchRow } from "../batches/batch-state";
import { isGuardFailure } from "../core/guard";
import { batchHoldId } from "../pools/op-ids";
import type { Env } from "../env";
import { releaseBatchHold } from "../pools/batch-holds";
import { closeFlow, findFlow, supersedePending } from "./store";

export type ExitStatus = "rejected" | "cancelled" | "expired";

export interface ExitInput {
  batch: BatchRow;
  to: ExitStatus;
  actor: string;
  requestId?: string;
  details?: Record<string, unknown>;
  /** Statements to commit with the exit (e.g. the rejecting decision), before the flow closes. */
  extra?: D1PreparedStatement[];
  events?: AuditInput[];
}

export async function exitBatch(env: Env, input: ExitInput): Promise<void> {
  const { batch, to } = input;
  const flow = await findFlow(env.DB, batch.org, batch.id);
  const now = new Date().toISOString();
  const flowStatements = flow ? [...closeFlow(env.DB, batch.id, ["open", "approved"], to, now, input.actor), supersedePending(env.DB, batch.id)] : [];
  await transitionBatch(env.DB, {
    batch,
    to,
    action: `batch.${to}`,
    actor: input.actor,
    requestId: input.requestId,
    details: input.details,
    extra: [...(input.extra ?? []), ...flowStatements],
    events: input.events,
  });
  await settleExitHold(env, batch, input.actor, to, input.requestId);
}

/** Releases the rest of an exited batch's hold and records it once (audit included). */
export async function settleExitHold(env: Env, batch: BatchRow, actor: string, status: ExitStatus, requestId?: string): Promise<void> {
  const result = await releaseBatchHold(env, batch, actor, `batch ${batch.id} ${status}`);
  if (!result) return;
  const event: AuditInput = {
    actor,
    action: "batch.hold_released",
    entityType: "batch",
    entityId: batch.id,
    requestId,
    after: { hold_id: batchHoldId(batch.id), released: result.released, reason: status },
  };
  const mark = env.DB.prepare("UPDATE approval_flows SET hold_released_at = ?2 WHERE batch_id = ?1 AND hold_released_at IS NULL").bind(
    batch.id,
    new Date().toISOString(),
  );
  const guard = env.DB.prepare(
    "INSERT INTO write_guards (stale_write) SELECT NULL WHERE changes() = 0 AND EXISTS (SELECT 1 FROM approval_flows WHERE batch_id = ?)",
  ).bind(batch.id);
  try {
    // A batch cancelled before submission has no flow: its (stray) hold release is audited all the same.
    await appendAudit(env.DB, batch.org, [event], [mark, guard]);
  } catch (err) {
    if (!isGuardFailure(err)) throw err; // recorded already by an earlier attempt
  }
}
