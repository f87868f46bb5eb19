/**
 * The reconciliations queue's consumer: each message is one step of an org's reconciliation run
 * (src/reconciliation/schedule.ts). It has a queue of its own so that runs never take the consumer
 * slots sized for sending rewards; wrangler.toml runs it one invocation at a time.
 */
import { backoffSeconds } from "../delivery/retry-policy";
import type { Env } from "../env";
import { reconcileFromQueue } from "../reconciliation/schedule";
import { ReconcileMessage } from "./messages";
import { redactTokens } from "../core/redact";

export async function consumeReconciliations(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  for (const msg of batch.messages) {
    const parsed = ReconcileMessage.safeParse(msg.body);
    if (!parsed.success) {
      console.error(JSON.stringify({ queue: batch.queue, message_id: msg.id, error: "unreadable message, dropped" }));
      msg.ack();
      continue;
    }
    try {
      // Another invocation holds the run: come back once its lease has lapsed.
      const { retryAfterSeconds } = await reconcileFromQueue(env, parsed.data);
      if (retryAfterSeconds) msg.retry({ delaySeconds: retryAfterSeconds });
      else msg.ack();
    } catch (err) {
      // A run that keeps failing is marked failed on its row (the next run redoes it), so a message out of retries is dropped.
      console.error(JSON.stringify({ queue: batch.queue, message_id: msg.id, attempts: msg.attempts, body: msg.body, error: redactTokens(String(err)) }));
      msg.retry({ delaySeconds: backoffSeconds(msg.attempts) });
    }
  }
}
