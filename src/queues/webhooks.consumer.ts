/**
 * The webhooks queues' consumer, for both lanes (`rewardrail-webhooks`, the fast lane, and
 * `rewardrail-webhooks-slow`; src/webhooks/lanes.ts): `webhook_dispatch` fans an org's outbox events
 * out (once per org per invocation); `webhook_send` messages are gathered per org and sent as one run
 * (src/webhooks/send.ts: a few statements for the whole run, sends in parallel per endpoint). A group
 * naming an endpoint whose breaker is open is put off as it is, without reading its messages, on the
 * slow lane; in the fast lane a group naming an endpoint that belongs in the slow lane is handed to it
 * the same way. The retry schedule lives on the message rows and is queued again with delaySeconds by
 * the run, so `msg.retry` only covers a run that threw.
 */
import { redactTokens } from "../core/redact";
import { backoffSeconds } from "../delivery/retry-policy";
import type { Env } from "../env";
import { breakerOpen } from "../webhooks/breaker";
import { dispatchOrg } from "../webhooks/dispatch";
import { endpointLane, laneOfQueue, laneQueue } from "../webhooks/lanes";
import { MAX_QUEUE_DELAY_S } from "../webhooks/retry-schedule";
import { readEndpoints, sendMessages } from "../webhooks/send";
import { sendWebhookMessages, type WebhookQueueMessage, WebhookQueueMessage as Schema } from "./messages";

type Send = Extract<WebhookQueueMessage, { type: "webhook_send" }>;

export async function consumeWebhooks(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const lane = laneOfQueue(batch.queue);
  const dispatches = new Map<string, Message<unknown>[]>();
  const drains = new Map<string, Set<string>>();
  const sends: { msg: Message<unknown>; body: Send }[] = [];
  for (const msg of batch.messages) {
    const parsed = Schema.safeParse(msg.body);
    if (!parsed.success) {
      console.error(JSON.stringify({ queue: batch.queue, message_id: msg.id, error: "unreadable message, dropped" }));
      msg.ack();
    } else if (parsed.data.type === "webhook_dispatch") {
      dispatches.set(parsed.data.org, [...(dispatches.get(parsed.data.org) ?? []), msg]);
      for (const id of parsed.data.drain ?? []) drains.set(parsed.data.org, new Set([...(drains.get(parsed.data.org) ?? []), id]));
    } else sends.push({ msg, body: parsed.data });
  }
  const now = new Date();
  const named = await readEndpoints(env.DB, [...new Set(sends.flatMap((s) => (s.body.endpointId ? [s.body.endpointId] : [])))]);
  const byOrg = new Map<string, { msg: Message<unknown>; body: Send }[]>();
  // Put off unread, one sendBatch per delay: groups of endpoints whose breaker is open, and in the fast lane those of slow endpoints.
  const putOff = new Map<number, { msg: Message<unknown>; body: Send }[]>();
  for (const s of sends) {
    const ep = s.body.endpointId ? named.get(s.body.endpointId) : undefined;
    if (ep && ep.enabled === 1 && (breakerOpen(ep, now) || (lane === "fast" && endpointLane(ep, now) === "slow"))) {
      const delaySeconds = breakerOpen(ep, now) ? Math.min(MAX_QUEUE_DELAY_S, Math.ceil((Date.parse(ep.breaker_until!) - now.getTime()) / 1000)) : 0;
      putOff.set(delaySeconds, [...(putOff.get(delaySeconds) ?? []), s]);
    } else {
      const list = byOrg.get(s.body.org);
      if (list) list.push(s);
      else byOrg.set(s.body.org, [s]);
    }
  }
  await Promise.all([
    ...[...putOff].map(([delaySeconds, list]) =>
      settle(
        list.map((s) => s.msg),
        () =>
          sendWebhookMessages(
            laneQueue(env, "slow"),
            list.map((s) => s.body),
            delaySeconds,
          ),
        batch.queue,
      ),
    ),
    ...[...dispatches].map(([org, msgs]) => settle(msgs, () => dispatchOrg(env, org, drains.get(org)), batch.queue)),
    ...[...byOrg].map(([org, list]) =>
      settle(
        list.map((s) => s.msg),
        () =>
          sendMessages(
            env,
            org,
            list.flatMap((s) => s.body.messageIds ?? [s.body.messageId!]),
            { lane },
          ),
        batch.queue,
      ),
    ),
  ]);
}

/** Acks `msgs` when `work` succeeds; retries them with backoff when it throws. */
async function settle(msgs: Message<unknown>[], work: () => Promise<unknown>, queue: string): Promise<void> {
  try {
    await work();
    for (const m of msgs) m.ack();
  } catch (err) {
    console.error(JSON.stringify({ queue, message_ids: msgs.map((m) => m.id), error: redactTokens(String(err)) }));
    for (const m of msgs) m.retry({ delaySeconds: backoffSeconds(m.attempts) });
  }
}
