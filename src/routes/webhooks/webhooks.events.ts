/**
 * The event catalogue as OpenAPI 3.1 `webhooks`: one entry per event type, each the Standard
 * Webhooks envelope `{ id, type, created_at, sequence, data }` with its own `data` schema. Ids,
 * statuses, reason codes and amounts only: never a code or a claim URL (src/webhooks/catalogue.ts).
 */
import { z, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../env";
import { EVENT_TYPES, EVENT_VERSION, PING, type EventType } from "../../webhooks/catalogue";

const Id = z.string();
const base = (object: string) => ({ object: z.literal(object), id: Id });

const batchData = z
  .object({
    ...base("batch"),
    status: z.string().openapi({ description: "The batch status after the change (batch.completed: completed or completed_with_errors)" }),
  })
  .openapi("WebhookBatchData");
const deliveryData = z
  .object({
    ...base("delivery"),
    status: z.string(),
    reason: z.string().nullable().optional().openapi({ description: "Why it failed or is held (a reason code or short text)" }),
    batch_id: Id.nullable().optional(),
  })
  .openapi("WebhookDeliveryData");
const cardData = z
  .object({
    ...base("card"),
    status: z.string().optional(),
    amount: z.number().int().optional(),
    currency: z.string().optional(),
    masked_code: z.string().optional(),
  })
  .openapi("WebhookCardData");
const campaignData = z
  .object({
    ...base("campaign"),
    status: z.string().optional(),
    reason: z.string().optional(),
    amount: z.number().int().optional(),
    campaign_id: Id.optional(),
    committed: z.number().int().optional().openapi({ description: "campaign.budget_low: value committed from the budget so far (minor units)" }),
    threshold: z.number().int().optional().openapi({ description: "campaign.budget_low: the low-budget mark it crossed (80 % of the pause threshold)" }),
    budget: z.number().int().optional(),
    remaining: z.number().int().optional(),
    currency: z.string().optional(),
  })
  .openapi("WebhookCampaignData");
const exceptionData = z
  .object({
    ...base("exception"),
    kind: z.string().optional(),
    severity: z.string().optional(),
    status: z.string().optional(),
    resolution: z.string().optional(),
    entity_type: z.string().optional(),
    entity_id: Id.optional(),
    batch_id: Id.nullable().optional(),
  })
  .openapi("WebhookExceptionData");
const reconciliationData = z
  .object({ ...base("reconciliation"), findings: z.number().int().optional(), by_kind: z.record(z.string(), z.number().int()).optional() })
  .openapi("WebhookReconciliationData");
const poolData = z.object({ ...base("pool"), available: z.number().int(), threshold: z.number().int(), currency: z.string() }).openapi("WebhookPoolData");
const pingData = z.object({ ...base("webhook_endpoint"), ping: z.literal(true) }).openapi("WebhookPingData");

const DATA: Record<EventType | typeof PING, z.ZodType> = Object.fromEntries([
  ...EVENT_TYPES.map((t) => {
    const family = t.split(".")[0];
    const schema = {
      batch: batchData,
      delivery: deliveryData,
      card: cardData,
      campaign: campaignData,
      exception: exceptionData,
      reconciliation: reconciliationData,
      pool: poolData,
    }[family!]!;
    return [t, schema];
  }),
  [PING, pingData],
]) as Record<EventType | typeof PING, z.ZodType>;

const DESCRIPTIONS: Partial<Record<EventType | typeof PING, string>> = {
  "batch.completed": "Every delivery of the batch ended; `data.status` is completed or completed_with_errors",
  "delivery.failed": "A delivery failed for good (data error, retries exhausted, or cancelled through its exception)",
  "card.redeemed": "Emitted by stored-value cards (src/cards/) when they audit `card.redeemed`",
  "card.expired": "Emitted by stored-value cards when they audit `card.expired`",
  "campaign.budget_low":
    "A campaign's committed value crossed its low-budget mark (80 % of its pause threshold, budget × pause_at_pct); once per crossing, again after a top-up",
  "exception.opened": "An exception opened (a repeat of an open one only bumps its count and emits nothing)",
  "pool.low_balance": "A pool's available balance fell below its webhook threshold; at most once per 24 h per pool",
  ping: "Sent by POST /v1/webhook-endpoints/{id}/test only",
};

export function envelope(type: string) {
  return z.object({
    id: z.string().openapi({ example: "evt_01jd3x...", description: "Also the webhook-id header; the same on every retry" }),
    type: z.literal(type),
    created_at: z.string().openapi({ format: "date-time" }),
    sequence: z.number().int().openapi({ description: "Increases with each event of the same entity (not contiguous): order by it" }),
    data: DATA[type as EventType]!,
  });
}

export function registerEventCatalogue(app: Pick<OpenAPIHono<AppEnv>, "openAPIRegistry">): void {
  for (const type of [...EVENT_TYPES, PING]) {
    app.openAPIRegistry.registerWebhook({
      method: "post",
      path: type,
      operationId: `webhook_${type.replace(".", "_")}`,
      tags: ["Webhook events"],
      // Rewardrail sends no bearer token: the receiver authenticates the message by its webhook-signature.
      security: [],
      summary: DESCRIPTIONS[type as EventType] ?? `The ${type.replace(".", " ").replace("_", " ")} event`,
      description:
        `Event schema version ${EVENT_VERSION}. Sent as Standard Webhooks: headers webhook-id, webhook-timestamp, webhook-signature (v1,<base64>; two during a secret rotation). ` +
        "Answer 2xx within 15 s; anything else (any other 4xx, 5xx, a redirect, which is not followed, or a timeout) is retried on the schedule (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h), later when Retry-After asks (up to a day); 410 disables the endpoint.",
      request: { body: { content: { "application/json": { schema: envelope(type) } } } },
      responses: { 200: { description: "Received (any 2xx)" } },
    });
  }
}
