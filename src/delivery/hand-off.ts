import type { Env } from "../env";
import type { QueueMessage } from "../queues/messages";

/**
 * The hand-off from approvals to delivery: once a batch is `releasing`, one message starts the
 * fan-out, which the delivery consumer carries out in bounded steps.
 */
export async function enqueueRelease(env: Env, org: string, batchId: string): Promise<void> {
  const body: QueueMessage = { type: "release", org, batchId };
  await env.DELIVERY_QUEUE.send(body, { contentType: "json" });
}
