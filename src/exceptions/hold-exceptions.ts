/**
 * Resolving an `expired_hold_unreleased` exception with `cancel`: the hold's rest goes back to the
 * pool's available balance, then the exception resolves (audited together). A batch hold is
 * released only when its batch holds nothing (draft, validated or ended): a submitted, approved,
 * releasing or delivering batch owns its hold, and cancelling the batch is what releases it.
 * `accept` stays "resolved as it is" (the hold keeps its value until its expiry or the orphan-hold
 * sweep); `retry` has nothing to retry. The operation id is the exception's, so a retried
 * resolution never releases twice.
 */
import { appendAudit, type AuditInput } from "../audit/audit";
import { HOLDING, type BatchStatus } from "../batches/batch-state";
import { findBatch } from "../batches/batches.service";
import { AppError } from "../core/errors";
import { releaseHoldForException } from "../pools/batch-holds";
import { batchIdOfHold, isBatchHold } from "../pools/op-ids";
import type { Auth, Env } from "../env";
import { requirePool } from "../pools/pools.service";
import { resolvedEvent, resolveStatements } from "./exception-writes";
import type { ExceptionRecord } from "./exceptions.query";

export const HOLD_EXCEPTION_KIND = "expired_hold_unreleased";

export async function releaseHoldException(env: Env, auth: Auth, exc: ExceptionRecord, note: string | null, requestId?: string): Promise<void> {
  const data = (exc.data ? JSON.parse(exc.data) : {}) as { pool_id?: string };
  if (!data.pool_id)
    throw new AppError("invalid_state_transition", `Exception ${exc.id} does not say which pool holds ${exc.entityId}; accept it once handled`);
  const pool = await requirePool(env.DB, auth.org, data.pool_id);
  const holdId = exc.entityId;
  const batchId = isBatchHold(holdId) ? batchIdOfHold(holdId) : null;
  const batch = batchId ? await findBatch(env.DB, auth.org, batchId) : null;
  if (batch && HOLDING.includes(batch.status as BatchStatus)) {
    throw new AppError(
      "invalid_state_transition",
      `Batch ${batch.id} is ${batch.status} and owns hold ${holdId}; cancel the batch to release it, or wait for the expiry sweep`,
      { batch_status: batch.status },
    );
  }
  const released = await releaseHoldForException(env, pool.id, holdId, exc.id, auth.sub);
  const event: AuditInput = batch
    ? {
        actor: auth.sub,
        action: "batch.hold_released",
        entityType: "batch",
        entityId: batch.id,
        requestId,
        after: { hold_id: holdId, released, reason: "exception_cancelled", exception_id: exc.id },
      }
    : {
        actor: auth.sub,
        action: "pool.hold_released",
        entityType: "pool",
        entityId: pool.id,
        requestId,
        after: { hold_id: holdId, released, reason: "exception_cancelled", exception_id: exc.id },
      };
  const at = new Date().toISOString();
  await appendAudit(
    env.DB,
    auth.org,
    [resolvedEvent(auth, exc, "cancel", note, requestId), event],
    resolveStatements(env.DB, exc, "cancel", note, auth.sub, at),
  );
}
