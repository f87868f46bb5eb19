/** Request and response schemas of the webhook routes (API.md "Webhooks"). */
import { z } from "@hono/zod-openapi";
import { ListQuery, PlainText } from "../../core/openapi";
import { EVENT_TYPES } from "../../webhooks/catalogue";

const Time = z.string().openapi({ format: "date-time" });
const EventName = z.enum(["*", ...EVENT_TYPES]).openapi({ description: "An event type of the catalogue (the OpenAPI `webhooks` section), or `*` for all" });
const Events = z
  .array(EventName)
  .min(1)
  .max(EVENT_TYPES.length + 1)
  .openapi({ example: ["batch.completed", "delivery.failed"] });
const Url = z.string().min(1).max(2048).openapi({
  format: "uri",
  example: "https://hooks.example.com/rewardrail",
  description:
    "https only; no private, loopback, link-local or metadata address (400 with pointer /url). In development, http://localhost and http://127.0.0.1 too",
});
const OwnerEmail = z.email().max(254).openapi({ description: "Who is emailed when the endpoint is disabled (five days of failures, or 410 Gone)" });

export const CreateEndpoint = z
  .strictObject({ url: Url, events: Events, description: PlainText(500).optional(), owner_email: OwnerEmail.optional() })
  .openapi("CreateWebhookEndpoint");

export const UpdateEndpoint = z
  .strictObject({
    url: Url.optional(),
    events: Events.optional(),
    enabled: z
      .boolean()
      .optional()
      .openapi({
        description:
          "false stops sending: events that happen meanwhile are kept as failed deliveries with no attempt; true enables again and clears the failure clock, " +
          "then POST …/recover { since } resends what was missed",
      }),
    description: PlainText(500).nullable().optional(),
    owner_email: OwnerEmail.nullable().optional(),
  })
  .openapi("UpdateWebhookEndpoint");

export const EndpointSchema = z
  .object({
    id: z.string().openapi({ example: "whe_01jd3x..." }),
    url: z.string(),
    events: z.array(z.string()),
    description: z.string().nullable(),
    enabled: z.boolean(),
    disabled_reason: z.string().nullable(),
    owner: z.string().openapi({ description: "The admin (token sub) who created it" }),
    owner_email: z.string().nullable(),
    failing_since: Time.nullable().openapi({ description: "First failed attempt since the last success; after 5 days the endpoint is disabled" }),
    secret_rotated_until: Time.nullable().openapi({ description: "Until then, messages carry a signature with the previous secret too" }),
    created_at: Time,
    updated_at: Time,
  })
  .openapi("WebhookEndpoint");

export const EndpointWithSecret = EndpointSchema.extend({
  secret: z
    .string()
    .openapi({ example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", description: "The signing secret (Standard Webhooks), shown only in this answer" }),
}).openapi("WebhookEndpointWithSecret");

export const AttemptSchema = z
  .object({
    id: z.string().openapi({ example: "wha_01jd3x..." }),
    attempted_at: Time,
    status_code: z.number().int().nullable(),
    latency_ms: z.number().int(),
    response_body: z.string().nullable().openapi({ description: "The first 1 KB of the receiver's answer" }),
    error: z.string().nullable(),
    outcome: z.enum(["delivered", "retry", "failed"]),
    manual: z.boolean().openapi({ description: "Sent by a test, retry or recover request" }),
  })
  .openapi("WebhookAttempt");

export const DeliverySchema = z
  .object({
    id: z
      .string()
      .openapi({ example: "whd_01jd3x...", description: "The webhook delivery (one event to one endpoint); POST /v1/webhook-deliveries/{id}/retry takes it" }),
    event_id: z.string().openapi({ description: "The message's webhook-id and payload id" }),
    event_type: z.string(),
    sequence: z.number().int(),
    entity_id: z.string(),
    status: z.enum(["pending", "sending", "delivered", "failed"]),
    attempt_count: z.number().int(),
    next_attempt_at: Time.nullable(),
    last_error: z.string().nullable(),
    attempted_at: Time.nullable().openapi({ description: "The latest attempt's time" }),
    status_code: z.number().int().nullable().openapi({ description: "The latest attempt's HTTP status" }),
    latency_ms: z.number().int().nullable(),
    error: z.string().nullable(),
    attempts: z.array(AttemptSchema),
    created_at: Time,
    updated_at: Time,
  })
  .openapi("WebhookDelivery");

export const DeliveryQuery = ListQuery.extend({ status: z.enum(["pending", "sending", "delivered", "failed"]).optional() }).strict();

export const Recover = z
  .strictObject({
    since: z.iso.datetime({ offset: true }).openapi({
      maxLength: 40,
      description: "Resend every delivery whose status is failed and that was created at or after this time (delivered and pending ones are left alone)",
    }),
  })
  .openapi("RecoverWebhookEndpoint");

export const Recovered = z
  .object({ endpoint_id: z.string(), since: z.string(), recovered: z.number().int(), delivery_ids: z.array(z.string()) })
  .openapi("RecoveredWebhookDeliveries");

export const LowBalanceAlert = z
  .strictObject({
    threshold: z
      .number()
      .int()
      .min(0)
      .max(Number.MAX_SAFE_INTEGER)
      .openapi({ format: "int64", description: "Minor units of the pool's currency; 0 turns the alert off", example: 50000 }),
  })
  .openapi("PoolLowBalanceAlert");

export const LowBalanceAlertView = z
  .object({ pool_id: z.string(), threshold: z.number().int(), currency: z.string(), available: z.number().int(), below: z.boolean() })
  .openapi("PoolLowBalanceAlertView");
