/**
 * The queues and their message bodies. Ids only: never codes, emails or names (DESIGN.md
 * "Delivery"). The same zod schema validates what is sent and what is received.
 */
import { z } from "zod";

/** Queue names as in wrangler.toml (a consumer learns its queue from `batch.queue`). */
export const QUEUES = {
  deliveries: "rewardrail-deliveries",
  deliveriesDeadLetter: "rewardrail-deliveries-dlq",
  reconciliations: "rewardrail-reconciliations",
  webhooks: "rewardrail-webhooks",
  webhooksSlow: "rewardrail-webhooks-slow",
  schedules: "rewardrail-schedules",
} as const;

export const ReleaseMessage = z.strictObject({ type: z.literal("release"), org: z.string(), batchId: z.string() });
/** One range of recipient rows (row_no, inclusive) of a releasing batch. */
export const ChunkMessage = z.strictObject({
  type: z.literal("chunk"),
  org: z.string(),
  batchId: z.string(),
  fromRow: z.number().int(),
  toRow: z.number().int(),
});
export const DELIVERIES_PER_MESSAGE = 10;
/**
 * A campaign's rewards of one events request go out in messages of up to this many ids: a request
 * of 1,000 events rewards ~40 per campaign, one message each, so a consumer invocation's messages
 * carry several requests' rewards and its groups (one per campaign) are hundreds, not ~10 per message.
 */
export const CAMPAIGN_DELIVERIES_PER_MESSAGE = 100;

/**
 * Deliveries of one batch: the fan-out packs DELIVERIES_PER_MESSAGE ids per message, so one consumer
 * invocation (100 messages) carries up to 1,000 deliveries; a campaign's, CAMPAIGN_DELIVERIES_PER_MESSAGE
 * (the consumer runs at most DELIVERIES_PER_RUN of one group at once); retries and sweeps may send one id.
 */
export const DeliverMessage = z
  .strictObject({
    type: z.literal("deliver"),
    org: z.string(),
    /** A batch's deliveries carry batchId; a campaign's rewards carry campaignId instead. */
    batchId: z.string().optional(),
    campaignId: z.string().optional(),
    deliveryId: z.string().optional(),
    deliveryIds: z.array(z.string()).min(1).max(CAMPAIGN_DELIVERIES_PER_MESSAGE).optional(),
  })
  .refine((m) => (m.deliveryId === undefined) !== (m.deliveryIds === undefined), "deliveryId or deliveryIds, not both")
  .refine((m) => (m.batchId === undefined) !== (m.campaignId === undefined), "batchId or campaignId, not both");

/** The delivery ids a deliver message names. */
export const idsOf = (m: { deliveryId?: string; deliveryIds?: string[] }): string[] => m.deliveryIds ?? (m.deliveryId ? [m.deliveryId] : []);

/**
 * A reconciliation step, on the reconciliations queue: the org's cron run starts (no run id) or a
 * run continues (src/reconciliation/schedule.ts).
 */
export const ReconcileMessage = z.strictObject({ type: z.literal("reconcile"), org: z.string(), runId: z.string().optional() });

/** What the deliveries queue (and its dead-letter queue) carries. */
export const QueueMessage = z.discriminatedUnion("type", [ReleaseMessage, ChunkMessage, DeliverMessage]);
export type QueueMessage = z.infer<typeof QueueMessage>;
export type ReleaseMessage = z.infer<typeof ReleaseMessage>;
export type ChunkMessage = z.infer<typeof ChunkMessage>;
export type DeliverMessage = z.infer<typeof DeliverMessage>;
export type ReconcileMessage = z.infer<typeof ReconcileMessage>;

/** Queues take at most 100 messages per sendBatch. */
export async function sendMessages(queue: Queue, bodies: (QueueMessage | ReconcileMessage)[]): Promise<void> {
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < bodies.length; i += 100) {
    calls.push(queue.sendBatch(bodies.slice(i, i + 100).map((body) => ({ body, contentType: "json" as const }))));
  }
  await Promise.all(calls);
}

/**
 * The webhooks queue (src/queues/webhooks.consumer.ts): `webhook_dispatch` fans an org's new outbox
 * events out into one message row per endpoint; `webhook_send` sends one of those rows (by id).
 */
export const WebhookDispatchMessage = z.strictObject({
  type: z.literal("webhook_dispatch"),
  org: z.string(),
  /** Endpoints an attempt got through to: drain their backlogs even while they are in the slow lane (src/webhooks/backlog.ts). */
  drain: z.array(z.string()).max(100).optional(),
});
/**
 * Messages to send: one (`messageId`: a retry, a successor, a sweep) or up to 100 of one endpoint
 * (`messageIds` with `endpointId`: the fan-out), so the consumer reads and records them in a few
 * statements, and can put off a whole group when its endpoint's breaker is open without reading them.
 */
export const WEBHOOK_IDS_PER_MESSAGE = 100;
export const WebhookSendMessage = z
  .strictObject({
    type: z.literal("webhook_send"),
    org: z.string(),
    endpointId: z.string().optional(),
    messageId: z.string().optional(),
    messageIds: z.array(z.string()).min(1).max(WEBHOOK_IDS_PER_MESSAGE).optional(),
  })
  .refine((m) => (m.messageId === undefined) !== (m.messageIds === undefined), "messageId or messageIds, not both");
export const WebhookQueueMessage = z.discriminatedUnion("type", [WebhookDispatchMessage, WebhookSendMessage]);
export type WebhookQueueMessage = z.infer<typeof WebhookQueueMessage>;

/** Queue bodies that send `ids` (one per message when alone, else groups of 100), optionally naming their one endpoint. */
export function webhookSends(org: string, ids: string[], endpointId?: string): WebhookQueueMessage[] {
  if (ids.length === 1) return [{ type: "webhook_send", org, messageId: ids[0]!, ...(endpointId ? { endpointId } : {}) }];
  const out: WebhookQueueMessage[] = [];
  for (let i = 0; i < ids.length; i += WEBHOOK_IDS_PER_MESSAGE) {
    out.push({ type: "webhook_send", org, messageIds: ids.slice(i, i + WEBHOOK_IDS_PER_MESSAGE), ...(endpointId ? { endpointId } : {}) });
  }
  return out;
}

/** Sends webhook queue messages, 100 per sendBatch; `delaySeconds` applies to all of them (Queues allow at most 12 h). */
export async function sendWebhookMessages(queue: Queue, bodies: WebhookQueueMessage[], delaySeconds = 0): Promise<void> {
  for (let i = 0; i < bodies.length; i += 100) {
    await queue.sendBatch(bodies.slice(i, i + 100).map((body) => ({ body, contentType: "json" as const, ...(delaySeconds > 0 ? { delaySeconds } : {}) })));
  }
}

/**
 * The schedules queue (src/queues/schedules.consumer.ts): `schedule_page` applies the next page of a
 * scheduled trigger's run; `schedule_wait` evaluates a date run's customers whose local day has begun.
 */
export const SchedulePageMessage = z.strictObject({ type: z.literal("schedule_page"), org: z.string(), campaignId: z.string(), occurrence: z.string() });
export const ScheduleWaitMessage = z.strictObject({
  type: z.literal("schedule_wait"),
  org: z.string(),
  campaignId: z.string(),
  occurrence: z.string(),
  dueAt: z.string(),
  seq: z.number().int(),
});
export const ScheduleMessage = z.discriminatedUnion("type", [SchedulePageMessage, ScheduleWaitMessage]);
export type ScheduleMessage = z.infer<typeof ScheduleMessage>;

export async function sendScheduleMessages(queue: Queue, bodies: ScheduleMessage[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 100) {
    await queue.sendBatch(bodies.slice(i, i + 100).map((body) => ({ body, contentType: "json" as const })));
  }
}
