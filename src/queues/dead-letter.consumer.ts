/**
 * The deliveries dead-letter queue's consumer: messages that exhausted their retries
 * (MAX_RETRIES, src/delivery/retry-policy.ts). A delivery becomes `failed` (its committed value goes back
 * to the hold or pool) and an exception opens for a person to retry, cancel or accept; a fan-out
 * message that died opens an exception on its batch.
 */
import { appendAudit } from "../audit/audit";
import { completeBatchIfDone } from "../delivery/completion";
import { failExhausted } from "../delivery/delivery-state";
import { DEAD_LETTER_RETRY_SECONDS } from "../delivery/retry-policy";
import type { Env } from "../env";
import { openExceptions } from "../exceptions/exceptions.open";
import { refundDelivery } from "../pools/delivery-value";
import { idsOf, QueueMessage } from "./messages";
import { redactTokens } from "../core/redact";

export async function consumeDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  for (const msg of batch.messages) {
    const parsed = QueueMessage.safeParse(msg.body);
    if (!parsed.success) {
      msg.ack();
      continue;
    }
    const body = parsed.data;
    try {
      if (body.type === "deliver") for (const id of idsOf(body)) await failDelivery(env, body.org, body.batchId, id);
      else {
        const stmt = openExceptions(env.DB, [
          {
            org: body.org,
            kind: "fan_out_failed",
            severity: "high",
            entityType: "batch",
            entityId: body.batchId,
            batchId: body.batchId,
            detail: `The ${body.type} step of the release failed repeatedly`,
            data: body,
          },
        ]);
        if (stmt) await stmt.run();
      }
      msg.ack();
    } catch (err) {
      console.error(JSON.stringify({ queue: batch.queue, message_id: msg.id, error: redactTokens(String(err)) }));
      msg.retry({ delaySeconds: DEAD_LETTER_RETRY_SECONDS });
    }
  }
}

async function failDelivery(env: Env, org: string, batchId: string | undefined, deliveryId: string): Promise<void> {
  const d = await env.DB.prepare("SELECT id, status, committed, item, pool_id, attempts FROM deliveries WHERE id = ? AND org = ?")
    .bind(deliveryId, org)
    .first<{ id: string; status: string; committed: number; item: string; pool_id: string; attempts: number }>();
  if (!d || !["queued", "sending"].includes(d.status)) return;
  if (d.committed) {
    await refundDelivery(env, d.pool_id, d.item, { kind: "dead_lettered", deliveryId: d.id, attempts: d.attempts }, "system:dead-letter");
  }
  // What support reads first: why the retries ran out, not only that they did.
  const last = await env.DB.prepare(
    "SELECT error_class, error_detail FROM delivery_attempts WHERE delivery_id = ? AND outcome = 'failed' ORDER BY attempt_no DESC LIMIT 1",
  )
    .bind(d.id)
    .first<{ error_class: string | null; error_detail: string | null }>();
  const lastError = last?.error_detail ? `; last error (${last.error_class ?? "unknown"}): ${last.error_detail}` : "";
  const reason = `retries exhausted${lastError}`.slice(0, 500);
  const now = new Date().toISOString();
  const update = failExhausted(env.DB, d.id, reason, now);
  const exc = openExceptions(env.DB, [
    {
      org,
      kind: "delivery_dead_lettered",
      severity: "high",
      entityType: "delivery",
      entityId: d.id,
      batchId: batchId ?? null,
      detail: `Delivery failed after ${d.attempts} attempts${lastError}; the value went back to the hold`.slice(0, 1000),
    },
  ])!;
  await appendAudit(
    env.DB,
    org,
    [{ actor: "system:dead-letter", action: "delivery.failed", entityType: "delivery", entityId: d.id, after: { status: "failed", reason } }],
    [update, exc],
  );
  if (batchId) await completeBatchIfDone(env, org, batchId);
}
