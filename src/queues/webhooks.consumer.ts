/**
 * The webhooks queue's consumer: `webhook_dispatch` fans an org's outbox events out (once per org
 * per invocation), `webhook_send` sends one message. Sends run in parallel, each acked on its own;
 * the retry schedule is kept on the message row and re-queued with delaySeconds (src/webhooks/send.ts),
 * so `msg.retry` only covers an invocation that threw.
 */
import { redactTokens } from "../core/redact";
import { backoffSeconds } from "../delivery/retry-policy";
import type { Env } from "../env";
import { dispatchOrg } from "../webhooks/dispatch";
import { MAX_QUEUE_DELAY_S } from "../webhooks/retry-schedule";
import { sendMessage } from "../webhooks/send";
import { WebhookQueueMessage } from "./messages";

export async function consumeWebhooks(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const dispatched = new Map<string, Promise<unknown>>();
  await Promise.all(
    batch.messages.map(async (msg) => {
      const parsed = WebhookQueueMessage.safeParse(msg.body);
      if (!parsed.success) {
        console.error(JSON.stringify({ queue: batch.queue, message_id: msg.id, error: "unreadable message, dropped" }));
        return msg.ack();
      }
      const body = parsed.data;
      try {
        if (body.type === "webhook_dispatch") {
          if (!dispatched.has(body.org)) dispatched.set(body.org, dispatchOrg(env, body.org));
          await dispatched.get(body.org);
          return msg.ack();
        }
        const outcome = await sendMessage(env, body.org, body.messageId);
        // Queues cap delaySeconds at 12 h: a later attempt comes back early and waits again.
        if (outcome.kind === "skipped" && outcome.reason === "not_due") msg.retry({ delaySeconds: Math.min(outcome.delayS ?? 1, MAX_QUEUE_DELAY_S) });
        else msg.ack();
      } catch (err) {
        console.error(JSON.stringify({ queue: batch.queue, message_id: msg.id, attempts: msg.attempts, body, error: redactTokens(String(err)) }));
        msg.retry({ delaySeconds: backoffSeconds(msg.attempts) });
      }
    }),
  );
}
