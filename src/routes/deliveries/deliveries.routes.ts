/** OpenAPI contracts of the delivery support routes (API.md "Deliveries and support", batch deliveries). */
import { createRoute, z } from "@hono/zod-openapi";
import { IdParam, IdempotencyHeader, json, page, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";
import * as s from "./deliveries.schemas";

const tags = ["Deliveries and support"];
const DeliveryId = IdParam("dlv");
const actionBody = { required: false, content: { "application/json": { schema: s.ActionBody } } };
const READERS = ["support", "operator", "integrator", "auditor"] as const;

export const listDeliveries = createRoute({
  method: "get",
  path: "/v1/deliveries",
  tags,
  summary: "Find deliveries by batch, recipient email or phone, external id, status",
  description: "Newest first. Contact details are masked and codes appear only masked.",
  ...protect(READERS),
  request: { query: s.DeliveryListQuery },
  responses: { 200: json(page(s.DeliverySchema), "Deliveries"), ...problems(400, 401, 403) },
});

export const getDelivery = createRoute({
  method: "get",
  path: "/v1/deliveries/{id}",
  tags,
  summary: "What happened to this reward: the delivery, every attempt, reissues, exceptions",
  description: "For the link channel, `claim_url` is included for operator and integrator roles only (it is the reward itself).",
  ...protect(READERS),
  request: { params: DeliveryId },
  responses: { 200: json(s.DeliveryDetailSchema, "The delivery"), ...problems(401, 403, 404) },
});

export const batchDeliveries = createRoute({
  method: "get",
  path: "/v1/batches/{id}/deliveries",
  tags: ["Batches"],
  summary: "A batch's deliveries; Accept: text/csv exports every selected one",
  description: "CSV cells that a spreadsheet would run as formulas (starting with = + - @, tab, CR) are prefixed with an apostrophe.",
  ...protect("any"),
  request: { params: IdParam("bat"), query: s.BatchDeliveryQuery },
  responses: {
    200: {
      description: "A page of deliveries (JSON) or all selected deliveries (CSV)",
      content: { "application/json": { schema: page(s.DeliverySchema) }, "text/csv": { schema: z.string() } },
    },
    ...problems(400, 401, 403, 404),
  },
});

export const resendDelivery = createRoute({
  method: "post",
  path: "/v1/deliveries/{id}/resend",
  tags,
  summary: "Send the same reward again on its channel (a new attempt)",
  description:
    "Only delivered deliveries. No new reward, no money moves. Throttled per delivery: at least 5 minutes between resends and at most 5 in 24 hours " +
    "(429 rate_limited with Retry-After). The response carries the new attempt; its outcome says whether the provider accepted it. " +
    "An optional `reason` (e.g. the ticket the recipient opened) is kept in the audit trail.",
  ...protect(["support", "operator"]),
  request: { params: DeliveryId, headers: IdempotencyHeader, body: actionBody },
  responses: { 200: json(s.ResendResult, "The delivery and the new attempt"), ...problems(401, 403, 404, 409, 422, 429) },
});

export const reissueDelivery = createRoute({
  method: "post",
  path: "/v1/deliveries/{id}/reissue",
  tags,
  summary: "Void the reward and issue a new one (a new, linked delivery)",
  description:
    "Only delivered deliveries. The old reward is voided and the old delivery becomes `reissued`; a new delivery (reissue_of = the old id) gets a new reward " +
    "and is sent at once. The value stays committed once in the pool (no new payout). Up to 10,000 minor units an operator's call carries it out (201). " +
    "Above that, an operator's call records a request (202, an open `reissue_approval` exception) and a different user with the finance role confirms it " +
    "by calling this endpoint (201); the requester can never confirm their own request (403).",
  ...protect(["operator", "finance"]),
  request: { params: DeliveryId, headers: IdempotencyHeader, body: actionBody },
  responses: {
    201: json(s.ReissueResult, "The new delivery"),
    202: json(s.ReissuePending, "Recorded; awaiting confirmation by finance"),
    ...problems(400, 401, 403, 404, 409, 422),
  },
});

const ReversedSchema = s.DeliveryDetailSchema.extend({
  reversal: z.object({ amount: z.number().int().openapi({ format: "int64" }), currency: z.string(), card_id: z.string().nullable() }),
}).openapi("ReversedDelivery");

export const reverseDelivery = createRoute({
  method: "post",
  path: "/v1/deliveries/{id}/reverse",
  tags,
  summary: "Void a reward; its unspent value goes back to the pool's available funds",
  description:
    "Only delivered deliveries. An inventory code gives back its whole value; a stored-value card only its unspent remainder (pending holds are voided; " +
    "redeemed and expired value stays spent), and `reversal.amount` says how much. Operation ids derive from the delivery id, so retrying never reverses twice.",
  ...protect(["finance"]),
  request: { params: DeliveryId, headers: IdempotencyHeader, body: actionBody },
  responses: { 200: json(ReversedSchema, "The reversed delivery, and what the reversal gave back"), ...problems(400, 401, 403, 404, 409, 422) },
});
