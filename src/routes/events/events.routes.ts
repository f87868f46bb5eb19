import { createRoute, z } from "@hono/zod-openapi";
import { IdempotencyHeader, json, jsonBody, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";
import * as s from "./events.schemas";

const tags = ["Events"];

export const postEvent = createRoute({
  method: "post",
  path: "/v1/events",
  tags,
  summary: "Report an event; every campaign it triggers evaluates it",
  description:
    "202 with one outcome per campaign whose trigger is this event type (a draft or ended one answers `skipped`/`campaign_not_active`): `rewarded` (with `delivery_id`), `pending_approval`, or `skipped` with a reason. " +
    "The same `id` again answers the first evaluation and never rewards twice, even when copies arrive at once (409 `conflict` with Retry-After only if the first is still running after 20 s).",
  ...protect(["integrator"]),
  request: { headers: IdempotencyHeader, body: jsonBody(s.EventInput) },
  responses: { 202: json(s.EventAnswer, "The outcomes"), ...problems(400, 401, 403, 409, 422) },
});

export const postEventBatch = createRoute({
  method: "post",
  path: "/v1/events/batch",
  tags,
  summary: "Report up to 1,000 events; per-event answers in order",
  description:
    "202 with one answer per event, in order: its outcomes as for POST /v1/events, or `{ id?, error }` in its place — `validation_failed` with `errors[]` " +
    "pointing into the body (`/events/3/occurred_at`) for an event that is not valid (it is not recorded; the others are evaluated), `conflict` for a copy " +
    "still being evaluated elsewhere after 20 s. A body that is not `{ events: [...] }` of 1 to 1,000 events is refused whole (400).",
  ...protect(["integrator"]),
  request: { headers: IdempotencyHeader, body: jsonBody(s.EventBatch) },
  responses: { 202: json(s.EventBatchAnswer, "One answer per event, in order"), ...problems(400, 401, 403, 422) },
});

export const getEvent = createRoute({
  method: "get",
  path: "/v1/events/{id}",
  tags,
  summary: "An event's evaluation record",
  ...protect(["integrator", "support", "operator", "auditor"]),
  request: {
    params: z.object({
      id: z
        .string()
        .min(1)
        .max(200)
        .openapi({ param: { name: "id", in: "path" }, example: "shop-evt-1001" }),
    }),
  },
  responses: { 200: json(s.EventRecord, "What each campaign decided and why"), ...problems(401, 403, 404) },
});
