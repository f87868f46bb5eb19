/** OpenAPI contracts of webhook endpoints and their deliveries (API.md "Webhooks"). */
import { createRoute } from "@hono/zod-openapi";
import { IdParam, IdempotencyHeader, ListQuery, json, jsonBody, page, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";
import * as s from "./webhooks.schemas";

const tags = ["Webhooks"];
const base = "/v1/webhook-endpoints";
const params = IdParam("whe");

export const createWebhookEndpoint = createRoute({
  method: "post",
  path: base,
  tags,
  summary: "Register an endpoint; the answer holds its signing secret, shown this once",
  ...protect(["admin"]),
  request: { headers: IdempotencyHeader, body: jsonBody(s.CreateEndpoint) },
  responses: { 201: json(s.EndpointWithSecret, "The endpoint and its secret"), ...problems(400, 409, 422) },
});

export const listWebhookEndpoints = createRoute({
  method: "get",
  path: base,
  tags,
  summary: "The org's webhook endpoints (no secrets)",
  ...protect(["admin", "auditor"]),
  request: { query: ListQuery },
  responses: { 200: json(page(s.EndpointSchema), "Endpoints"), ...problems(400) },
});

export const getWebhookEndpoint = createRoute({
  method: "get",
  path: `${base}/{id}`,
  tags,
  summary: "One webhook endpoint (no secret)",
  ...protect(["admin", "auditor"]),
  request: { params },
  responses: { 200: json(s.EndpointSchema, "The endpoint"), ...problems(404) },
});

export const updateWebhookEndpoint = createRoute({
  method: "patch",
  path: `${base}/{id}`,
  tags,
  summary: "Change the URL, the events, or enable / disable",
  ...protect(["admin"]),
  request: { params, body: jsonBody(s.UpdateEndpoint) },
  responses: { 200: json(s.EndpointSchema, "The endpoint"), ...problems(400, 404) },
});

export const deleteWebhookEndpoint = createRoute({
  method: "delete",
  path: `${base}/{id}`,
  tags,
  summary: "Remove an endpoint; its unsent deliveries are dropped",
  ...protect(["admin"]),
  request: { params },
  responses: { 204: { description: "Deleted" }, ...problems(404) },
});

export const rotateWebhookSecret = createRoute({
  method: "post",
  path: `${base}/{id}/rotate-secret`,
  tags,
  summary: "A new signing secret; the old one keeps signing for 24 h",
  description: "During the 24 h, each message's webhook-signature carries two `v1,` signatures, one per secret, so receivers can switch at any time.",
  ...protect(["admin"]),
  request: { params, headers: IdempotencyHeader },
  responses: { 200: json(s.EndpointWithSecret, "The endpoint and its new secret, shown this once"), ...problems(400, 404, 422) },
});

export const testWebhookEndpoint = createRoute({
  method: "post",
  path: `${base}/{id}/test`,
  tags,
  summary: "Send a `ping` event now and answer how it went",
  ...protect(["admin"]),
  request: { params, headers: IdempotencyHeader },
  responses: { 200: json(s.DeliverySchema, "The ping's delivery with its attempt"), ...problems(400, 404, 409, 422) },
});

export const listWebhookDeliveries = createRoute({
  method: "get",
  path: `${base}/{id}/deliveries`,
  tags,
  summary: "Deliveries to this endpoint, newest first, each with every attempt",
  ...protect(["admin", "auditor"]),
  request: { params, query: s.DeliveryQuery },
  responses: { 200: json(page(s.DeliverySchema), "Deliveries"), ...problems(400, 404) },
});

export const retryWebhookDelivery = createRoute({
  method: "post",
  path: "/v1/webhook-deliveries/{id}/retry",
  tags,
  summary: "Send one delivery again now (a delivery id, or one of its attempt ids)",
  description:
    "One attempt now, whatever the delivery's status (a delivered one is sent again), its schedule, its entity's order or the endpoint's breaker. " +
    "A failed attempt of a pending delivery leaves its schedule as it was.",
  ...protect(["admin"]),
  request: { params: IdParam("whd"), headers: IdempotencyHeader },
  responses: { 200: json(s.DeliverySchema, "The delivery with the new attempt"), ...problems(400, 404, 409, 422) },
});

export const recoverWebhookEndpoint = createRoute({
  method: "post",
  path: `${base}/{id}/recover`,
  tags,
  summary: "Resend every failed delivery since a time",
  description:
    "Only deliveries whose status is `failed` (their ten attempts exhausted, or created while the endpoint was disabled, or failed when it was disabled) " +
    "and that were created at or after `since` go back on the retry schedule from its first attempt. Delivered ones are not sent again " +
    "(resend one with POST /v1/webhook-deliveries/{id}/retry); pending ones are already on their schedule. The endpoint must be enabled (409 otherwise).",
  ...protect(["admin"]),
  request: { params, headers: IdempotencyHeader, body: jsonBody(s.Recover) },
  responses: { 202: json(s.Recovered, "What was queued again"), ...problems(400, 404, 409, 422) },
});

export const setPoolLowBalanceAlert = createRoute({
  method: "put",
  path: "/v1/pools/{id}/low-balance-alert",
  tags,
  summary: "The threshold below which the pool.low_balance webhook event fires",
  description: "Checked every 5 minutes against the pool's available balance; the event fires at most once per 24 h per pool.",
  ...protect(["admin", "finance"]),
  request: { params: IdParam("pool"), body: jsonBody(s.LowBalanceAlert) },
  responses: { 200: json(s.LowBalanceAlertView, "The threshold and where the pool stands"), ...problems(400, 404) },
});
