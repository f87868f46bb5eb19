/**
 * Queue consumers. The deliveries queue carries release, chunk and deliver messages (ids only);
 * each message is acked or retried on its own, never in a blanket catch. Its dead-letter queue
 * receives what exhausted its retries and turns it into failed deliveries and exceptions.
 */
import type { Env } from "../env";
import { completeBatchIfDone } from "./completion";
import { backoffSeconds, deliver } from "./deliver";
import { deadLetter } from "./dead-letter";
import { runChunk, startRelease } from "./fan-out";
import { idsOf, QueueMessage, type DeliverMessage } from "./messages";
import { reconcileFromQueue } from "../reconciliation/schedule";

export const DELIVERY_QUEUE = "rewardrail-deliveries";
export const DEAD_LETTER_QUEUE = "rewardrail-deliveries-dlq";

export async function consume(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  if (batch.queue === DEAD_LETTER_QUEUE) return deadLetter(batch, env);
  const deliverGroups = new Map<string, Message<unknown>[]>();
  for (const msg of batch.messages) {
    const parsed = QueueMessage.safeParse(msg.body);
    if (!parsed.success) {
      console.error(JSON.stringify({ queue: batch.queue, message_id: msg.id, error: "unreadable message, dropped" }));
      msg.ack();
      continue;
    }
    const body = parsed.data;
    if (body.type === "deliver") {
      const key = `${body.org}\n${body.batchId}`;
      deliverGroups.set(key, [...(deliverGroups.get(key) ?? []), msg]);
      continue;
    }
    try {
      if (body.type === "reconcile") {
        const { retryAfterSeconds } = await reconcileFromQueue(env, body);
        if (retryAfterSeconds) msg.retry({ delaySeconds: retryAfterSeconds });
        else msg.ack();
        continue;
      }
      if (body.type === "release") await startRelease(env, body);
      else await runChunk(env, body);
      msg.ack();
    } catch (err) {
      logFailure(batch.queue, msg, err);
      msg.retry({ delaySeconds: backoffSeconds(msg.attempts) });
    }
  }
  await Promise.all([...deliverGroups.values()].map((msgs) => deliverGroup(env, batch.queue, msgs)));
}

async function deliverGroup(env: Env, queue: string, msgs: Message<unknown>[]): Promise<void> {
  const first = msgs[0]!.body as DeliverMessage;
  const attempt = Math.max(...msgs.map((m) => m.attempts));
  try {
    const ids = [...new Set(msgs.flatMap((m) => idsOf(m.body as DeliverMessage)))];
    const decisions = await deliver(env, first.org, first.batchId, ids, attempt);
    await completeBatchIfDone(env, first.org, first.batchId);
    for (const msg of msgs) {
      // A message is acked once all its deliveries are settled; otherwise it comes back after the longest delay asked for.
      const waits = idsOf(msg.body as DeliverMessage).map((id) => decisions.get(id) ?? { ack: true as const });
      const delays = waits.flatMap((d) => (d.ack ? [] : [d.delaySeconds]));
      if (delays.length === 0) msg.ack();
      else msg.retry({ delaySeconds: Math.max(...delays) });
    }
  } catch (err) {
    for (const msg of msgs) {
      logFailure(queue, msg, err);
      msg.retry({ delaySeconds: backoffSeconds(msg.attempts) });
    }
  }
}

function logFailure(queue: string, msg: Message<unknown>, err: unknown) {
  // Ids only: message bodies never hold codes or personal data.
  console.error(JSON.stringify({ queue, message_id: msg.id, attempts: msg.attempts, body: msg.body, error: String(err) }));
}
