/** Response and request schemas of the deliveries routes (the OpenAPI document is built from them). */
import { z } from "@hono/zod-openapi";
import { ListQuery } from "../../core/openapi";

export const DELIVERY_STATUSES = ["queued", "sending", "delivered", "failed", "held", "reversed", "reissued"] as const;
const Status = z.enum(DELIVERY_STATUSES);
const Time = z.string().openapi({ format: "date-time" });

export const MoneySchema = z.object({ amount: z.number().int(), currency: z.string() }).openapi("Money");

export const DeliverySchema = z
  .object({
    id: z.string().openapi({ example: "dlv_01jd3x..." }),
    batch_id: z.string().nullable().openapi({ description: "Null for a campaign reward (see campaign_id)" }),
    campaign_id: z.string().nullable().openapi({ description: "The campaign of a campaign reward (null for a batch delivery)" }),
    event_id: z.string().nullable().openapi({ description: "The event that earned a campaign reward" }),
    status: Status,
    status_reason: z.string().nullable(),
    amount: MoneySchema,
    channel: z.enum(["email", "sms", "link"]),
    masked_code: z.string().nullable().openapi({ description: "Never more than the last four characters", example: "••••7Q2K" }),
    recipient: z.object({
      id: z.string(),
      external_id: z.string().nullable(),
      name: z.string().nullable(),
      email: z.string().nullable().openapi({ description: "Masked", example: "j***@example.com" }),
      phone: z.string().nullable().openapi({ description: "Masked", example: "+1******0123" }),
    }),
    attempt_count: z.number().int().openapi({ description: "Send attempts so far (first send, retries, resends, reissue send)" }),
    reissue_of: z.string().nullable().openapi({ description: "The delivery this one replaced" }),
    created_at: Time,
    updated_at: Time,
    delivered_at: Time.nullable(),
    claim_opened_at: Time.nullable().openapi({ description: "When the recipient first opened the claim link" }),
  })
  .openapi("Delivery");

export const AttemptSchema = z
  .object({
    attempt_no: z.number().int(),
    kind: z.enum(["send", "resend", "reissue"]),
    channel: z.string(),
    outcome: z.enum(["pending", "sent", "failed"]),
    provider_message_id: z.string().nullable(),
    error_class: z.enum(["transient", "data", "policy"]).nullable(),
    error_detail: z.string().nullable(),
    actor: z.string(),
    created_at: Time,
    completed_at: Time.nullable(),
  })
  .openapi("DeliveryAttempt");

export const DeliveryDetailSchema = DeliverySchema.extend({
  attempts: z.array(AttemptSchema),
  reissues: z.array(z.object({ id: z.string(), status: Status, created_at: Time })).openapi({ description: "Deliveries that replaced this one" }),
  exceptions: z.array(
    z.object({
      id: z.string(),
      kind: z.string(),
      status: z.enum(["open", "resolved"]),
      detail: z.string(),
      resolution: z.string().nullable(),
      created_at: Time,
      resolved_at: Time.nullable(),
    }),
  ),
  claim_url: z.string().nullable().openapi({
    description: "For the link channel, while delivered: the URL the integrator hands to the recipient. Only operator and integrator roles see it.",
  }),
}).openapi("DeliveryDetail");

// Filters are never empty: `?recipient_email=` (an unset shell variable) would otherwise list every delivery of the org.
export const DeliveryListQuery = ListQuery.extend({
  batch_id: z.string().min(1).max(64).optional(),
  campaign_id: z.string().min(1).max(64).optional(),
  status: Status.optional(),
  recipient_email: z
    .string()
    .min(1)
    .max(254)
    .optional()
    .openapi({ description: "Matched case-insensitively, +tags ignored (the same identity key as validation)" }),
  recipient_phone: z.string().min(1).max(40).optional().openapi({ description: "Any format that normalises to E.164" }),
  external_id: z.string().min(1).max(200).optional(),
}).strict();

export const BatchDeliveryQuery = ListQuery.extend({ status: Status.optional() }).strict();

export const ActionBody = z
  .strictObject({ reason: z.string().trim().max(1000).optional().openapi({ description: "Why; kept in the audit trail" }) })
  .openapi("DeliveryActionBody");

export const ResendResult = z.object({ delivery: DeliveryDetailSchema, attempt: AttemptSchema }).openapi("ResendResult");
export const ReissueResult = z.object({ delivery: DeliveryDetailSchema, reissue_of: z.string() }).openapi("ReissueResult");
export const ReissuePending = z
  .object({
    status: z.literal("approval_required"),
    approval: z.object({
      id: z.string().openapi({ description: "The reissue_approval exception" }),
      requested_by: z.string(),
      requested_at: Time,
      reason: z.string(),
      threshold: MoneySchema,
    }),
    delivery: DeliveryDetailSchema,
  })
  .openapi("ReissuePending");
