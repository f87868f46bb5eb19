/**
 * The deliveries queue's consumer: release, chunk and deliver messages (ids only). Each message is
 * acked or retried on its own, never in a blanket catch; deliver messages of one batch or campaign
 * are handled together, up to DELIVERIES_PER_RUN at once (one claim, one pool commit, one provider
 * call per 100 emails).
 */
import { completeBatchIfDone } from "../delivery/completion";
import { deliver, type InTurn, turns } from "../delivery/deliver";
import { runChunk, startRelease } from "../delivery/fan-out";
import { backoffSeconds } from "../delivery/retry-policy";
import type { Env } from "../env";
import { idsOf, QueueMessage, ReconcileMessage, sendMessages, type DeliverMessage } from "./messages";
import { redactTokens } from "../core/redact";

export async function consumeDeliveries(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const deliverGroups = new Map<string, Message<unknown>[]>();
  for (const msg of batch.messages) {
    const parsed = QueueMessage.safeParse(msg.body);
    if (!parsed.success) {
      if (await forwardReconcile(env, batch.queue, msg)) continue;
      console.error(JSON.stringify({ queue: batch.queue, message_id: msg.id, error: "unreadable message, dropped" }));
      msg.ack();
      continue;
    }
    const body = parsed.data;
    if (body.type === "deliver") {
      const key = `${body.org}\n${body.batchId ?? body.campaignId}`;
      deliverGroups.set(key, [...(deliverGroups.get(key) ?? []), msg]);
      continue;
    }
    try {
      if (body.type === "release") await startRelease(env, body);
      else await runChunk(env, body);
      msg.ack();
    } catch (err) {
      logFailure(batch.queue, msg, err);
      msg.retry({ delaySeconds: backoffSeconds(msg.attempts) });
    }
  }
  const inTurn = turns();
  await Promise.all([...deliverGroups.values()].flatMap((msgs) => runsOf(msgs).map((run) => deliverGroup(env, batch.queue, run, inTurn))));
}

/**
 * Deliveries one `deliver` call takes at most: a campaign's messages carry up to 100 ids, so a
 * group of 100 of them is split, at message boundaries, into runs of this many (what a batch's
 * 100 messages of 10 hold; one settlement audit event names a run's deliveries).
 */
export const DELIVERIES_PER_RUN = 1000;

export function runsOf(msgs: Message<unknown>[]): Message<unknown>[][] {
  const runs: Message<unknown>[][] = [];
  let run: Message<unknown>[] = [];
  let n = 0;
  for (const msg of msgs) {
    const k = idsOf(msg.body as DeliverMessage).length;
    if (run.length > 0 && n + k > DELIVERIES_PER_RUN) {
      runs.push(run);
      run = [];
      n = 0;
    }
    run.push(msg);
    n += k;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/**
 * Reconciliation steps once shared this queue; one enqueued before the reconciliations queue
 * existed is passed on to it instead of being dropped. True when `msg` was one.
 */
async function forwardReconcile(env: Env, queue: string, msg: Message<unknown>): Promise<boolean> {
  const parsed = ReconcileMessage.safeParse(msg.body);
  if (!parsed.success) return false;
  try {
    await sendMessages(env.RECONCILE_QUEUE, [parsed.data]);
    msg.ack();
  } catch (err) {
    logFailure(queue, msg, err);
    msg.retry({ delaySeconds: backoffSeconds(msg.attempts) });
  }
  return true;
}

async function deliverGroup(env: Env, queue: string, msgs: Message<unknown>[], inTurn: InTurn): Promise<void> {
  const first = msgs[0]!.body as DeliverMessage;
  const attempt = Math.max(...msgs.map((m) => m.attempts));
  try {
    const ids = [...new Set(msgs.flatMap((m) => idsOf(m.body as DeliverMessage)))];
    const decisions = await deliver(env, first.org, { batchId: first.batchId, campaignId: first.campaignId }, ids, attempt, inTurn);
    if (first.batchId) await completeBatchIfDone(env, first.org, first.batchId);
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
  console.error(JSON.stringify({ queue, message_id: msg.id, attempts: msg.attempts, body: msg.body, error: redactTokens(String(err)) }));
}
