import type { Env } from "../env";
import type { QueueMessage } from "../queues/messages";

/** The pool DO hold that carries a batch's reserved value, from submission until the batch ends. */
export const batchHoldId = (batchId: string) => `hold_${batchId}`;
export const isBatchHold = (holdId: string) => holdId.startsWith(batchHoldId("bat_"));

/**
 * The hand-off from approvals to delivery: once a batch is `releasing`, one message starts the
 * fan-out, which the delivery consumer carries out in bounded steps.
 */
export async function enqueueRelease(env: Env, org: string, batchId: string): Promise<void> {
  const body: QueueMessage = { type: "release", org, batchId };
  await env.DELIVERY_QUEUE.send(body, { contentType: "json" });
}
