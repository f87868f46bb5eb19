/**
 * Resolving an exception: `retry`, `cancel` or `accept`, with a note; stored on the exception
 * (resolution, note, resolved_by, resolved_at) and audited. An exception resolves once: the
 * resolving update is conditional on `open`, so a second (or racing) resolution is a 409 and
 * writes nothing.
 *
 * - accept: resolved as it is (the delivery, if any, stays as it is); refused for a held delivery,
 *   which would otherwise keep its batch open for ever.
 * - retry: a failed or held delivery is delivered again. While its batch is delivering, it goes
 *   back to `queued` with a deliver message (the consumer commits against the batch hold again);
 *   once the batch has ended, the batch hold is closed, so the delivery is sent at once through a
 *   retry hold of its own (redeliver.ts). A fan-out exception re-sends its stored queue message.
 * - cancel: the delivery becomes `failed` for good: committed value refunded, an unsent code back
 *   to the inventory (a code that may have reached someone is voided instead); the batch may complete.
 *   For an unreleased hold (`expired_hold_unreleased`) cancel releases the hold's rest to the pool
 *   (src/reconciliation/hold-exceptions.ts).
 */
import { appendAudit } from "../audit/audit";
import { AppError } from "../core/errors";
import { isGuardFailure, requireChanged } from "../core/guard";
import { resolvedEvent, resolveStatements } from "./exception-writes";
import { completeBatchIfDone } from "../delivery/completion";
import { cancel, requeue as requeueStatement, valueReturned } from "../delivery/delivery-state";
import { QueueMessage, sendMessages } from "../queues/messages";
import { refundDelivery } from "../pools/delivery-value";
import type { Auth, Env } from "../env";
import { findDelivery, leaseDelivery, releaseLease, voidReward } from "../support/delivery-store";
import { exceptionView, findException, type ExceptionRecord } from "./exceptions.query";
import { HOLD_EXCEPTION_KIND, releaseHoldException } from "./hold-exceptions";
import { redeliverNow } from "../support/redeliver";
import { REISSUE_APPROVAL_KIND } from "../support/reissue";

export type ResolveAction = "retry" | "cancel" | "accept";
export interface ResolveInput {
  action: ResolveAction;
  note?: string;
}

const ENDED = ["completed", "completed_with_errors"];

function alreadyResolved(exc: ExceptionRecord): AppError {
  return new AppError("already_resolved", `Exception ${exc.id} was already resolved (${exc.resolution ?? "?"})`, {
    resolution: exc.resolution,
    resolved_by: exc.resolvedBy,
    resolved_at: exc.resolvedAt,
  });
}

export async function resolveException(env: Env, auth: Auth, id: string, input: ResolveInput, requestId?: string) {
  const exc = await findException(env.DB, auth.org, id);
  if (exc.status !== "open") throw alreadyResolved(exc);
  const note = input.note ?? null;
  // A held delivery keeps its batch open (its value stays in the hold): accepting it as it is would
  // leave the batch waiting forever, so it must be retried or cancelled.
  if (input.action === "accept" && exc.entityType === "delivery") {
    const d = await findDelivery(env.DB, auth.org, exc.entityId);
    if (d?.status === "held") {
      throw new AppError("invalid_state_transition", `Delivery ${d.id} is held; resolve it with retry (deliver) or cancel (fail and return its value)`, {
        delivery_status: d.status,
      });
    }
  }
  try {
    if (input.action === "accept" || (exc.kind === REISSUE_APPROVAL_KIND && input.action === "cancel"))
      await closeOnly(env, auth, exc, input.action, note, requestId);
    else if (exc.kind === REISSUE_APPROVAL_KIND) {
      throw new AppError(
        "invalid_state_transition",
        "A reissue request is confirmed by a finance user through POST /v1/deliveries/{id}/reissue; cancel withdraws it",
      );
    } else if (exc.entityType === "delivery") {
      await (input.action === "retry" ? retryDelivery(env, auth, exc, note, requestId) : cancelDelivery(env, auth, exc, note, requestId));
    } else if (input.action === "retry") await retryMessage(env, auth, exc, note, requestId);
    else if (exc.kind === HOLD_EXCEPTION_KIND) await releaseHoldException(env, auth, exc, note, requestId);
    else
      throw new AppError(
        "invalid_state_transition",
        `Only delivery and unreleased-hold exceptions can be cancelled; exception ${id} is about a ${exc.entityType}`,
      );
  } catch (err) {
    if (isGuardFailure(err)) throw alreadyResolved(await findException(env.DB, auth.org, id));
    throw err;
  }
  return exceptionView(await findException(env.DB, auth.org, id));
}

async function closeOnly(env: Env, auth: Auth, exc: ExceptionRecord, action: string, note: string | null, requestId?: string) {
  await appendAudit(
    env.DB,
    auth.org,
    [resolvedEvent(auth, exc, action, note, requestId)],
    resolveStatements(env.DB, exc, action, note, auth.sub, new Date().toISOString()),
  );
}

async function batchStatus(d1: D1Database, batchId: string): Promise<string | null> {
  return (await d1.prepare("SELECT status FROM batches WHERE id = ?").bind(batchId).first<{ status: string }>())?.status ?? null;
}

async function retryDelivery(env: Env, auth: Auth, exc: ExceptionRecord, note: string | null, requestId?: string) {
  const d = await leaseDelivery(env.DB, auth.org, exc.entityId, ["failed", "held"], "a retry");
  // A campaign reward has no batch to queue it with: it is sent now, its value committed again if it was given back.
  if (d.batchId === null) return redeliverNow(env, auth, exc, d, note, requestId);
  const status = await batchStatus(env.DB, d.batchId);
  if (status !== "delivering") {
    if (status && ENDED.includes(status)) return redeliverNow(env, auth, exc, d, note, requestId);
    await releaseLease(env.DB, d.id).run();
    throw new AppError("invalid_state_transition", `Batch ${d.batchId} is ${status}; its deliveries cannot be retried (cancel or accept the exception)`);
  }
  const at = new Date().toISOString();
  const requeue = requeueStatement(env.DB, d.id, `retry requested by ${auth.sub}`, at);
  try {
    await appendAudit(
      env.DB,
      auth.org,
      [
        resolvedEvent(auth, exc, "retry", note, requestId),
        {
          actor: auth.sub,
          action: "delivery.retry_requested",
          entityType: "delivery",
          entityId: d.id,
          requestId,
          before: { status: d.status },
          after: { status: "queued", exception_id: exc.id },
        },
      ],
      [...resolveStatements(env.DB, exc, "retry", note, auth.sub, at), requeue, requireChanged(env.DB)],
    );
  } catch (err) {
    await releaseLease(env.DB, d.id).run();
    throw err;
  }
  await sendMessages(env.DELIVERY_QUEUE, [{ type: "deliver", org: d.org, batchId: d.batchId, deliveryId: d.id }]);
}

async function cancelDelivery(env: Env, auth: Auth, exc: ExceptionRecord, note: string | null, requestId?: string) {
  const d = await leaseDelivery(env.DB, auth.org, exc.entityId, ["failed", "held"], "a cancellation");
  const at = new Date().toISOString();
  let refunded = 0;
  try {
    if (d.committed) {
      refunded = await refundDelivery(env, d.poolId, d.item, { kind: "exception", action: "cancel", exceptionId: exc.id }, auth.sub);
      // Recorded at once: whatever happens next, D1 must not claim value the pool no longer holds for it.
      await valueReturned(env.DB, d.id).run();
    }
    const sent = await env.DB.prepare("SELECT COUNT(*) AS n FROM delivery_attempts WHERE delivery_id = ? AND outcome = 'sent'")
      .bind(d.id)
      .first<{ n: number }>();
    const reward = (sent?.n ?? 0) > 0 ? voidReward(env.DB, d, at) : freeReward(env.DB, d.id, d.codeId, d.cardId);
    const update = cancel(env.DB, d.id, `cancelled by ${auth.sub}`, at);
    await appendAudit(
      env.DB,
      auth.org,
      [
        resolvedEvent(auth, exc, "cancel", note, requestId),
        {
          actor: auth.sub,
          action: "delivery.cancelled",
          entityType: "delivery",
          entityId: d.id,
          requestId,
          before: { status: d.status },
          after: { status: "failed", refunded, code_freed: (sent?.n ?? 0) === 0 },
        },
      ],
      [...resolveStatements(env.DB, exc, "cancel", note, auth.sub, at), update, ...reward],
    );
  } catch (err) {
    await releaseLease(env.DB, d.id).run();
    throw err;
  }
  if (d.batchId) await completeBatchIfDone(env, d.org, d.batchId);
}

/** A reward nobody has seen goes back: the code to the inventory, a card is voided. */
function freeReward(d1: D1Database, deliveryId: string, codeId: string | null, cardId: string | null): D1PreparedStatement[] {
  const out: D1PreparedStatement[] = [];
  if (codeId) {
    out.push(
      d1.prepare("UPDATE deliveries SET code_id = NULL WHERE id = ?").bind(deliveryId),
      d1
        .prepare("UPDATE inventory_codes SET status = 'available', delivery_id = NULL, assigned_at = NULL WHERE id = ? AND delivery_id = ?")
        .bind(codeId, deliveryId),
    );
  }
  if (cardId) out.push(d1.prepare("UPDATE cards SET status = 'void' WHERE id = ?").bind(cardId));
  return out;
}

/** A fan-out step that died: its stored message goes back on the queue (its steps are idempotent). */
async function retryMessage(env: Env, auth: Auth, exc: ExceptionRecord, note: string | null, requestId?: string) {
  const parsed = QueueMessage.safeParse(exc.data ? JSON.parse(exc.data) : null);
  if (!parsed.success || parsed.data.org !== auth.org) {
    throw new AppError("invalid_state_transition", `Exception ${exc.id} has nothing that can be retried; accept it once handled`);
  }
  await closeOnly(env, auth, exc, "retry", note, requestId);
  await sendMessages(env.DELIVERY_QUEUE, [parsed.data]);
}
