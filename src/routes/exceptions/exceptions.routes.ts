/** OpenAPI contracts of the exception queue (API.md "Deliveries and support"). */
import { createRoute, z } from "@hono/zod-openapi";
import { IdParam, IdempotencyHeader, ListQuery, json, jsonBody, page, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";

const tags = ["Exceptions"];
const Time = z.string().openapi({ format: "date-time" });

export const ExceptionSchema = z
  .object({
    id: z.string().openapi({ example: "exc_01jd3x..." }),
    kind: z.string().openapi({ description: "delivery_failed, delivery_dead_lettered, delivery_held, fan_out_failed, reissue_approval, ..." }),
    severity: z.enum(["low", "medium", "high"]),
    entity_type: z.string(),
    entity_id: z.string(),
    batch_id: z.string().nullable(),
    status: z.enum(["open", "resolved"]),
    detail: z.string(),
    data: z.unknown().nullable(),
    occurrences: z.number().int(),
    resolution: z.string().nullable().openapi({ description: "retry, cancel, accept (approved: a reissue request confirmed by finance)" }),
    note: z.string().nullable(),
    resolved_by: z.string().nullable(),
    created_at: Time,
    updated_at: Time,
    resolved_at: Time.nullable(),
  })
  .openapi("Exception");

const ExceptionQuery = ListQuery.extend({
  status: z.enum(["open", "resolved"]).optional(),
  kind: z.string().min(1).max(64).optional(),
  batch_id: z.string().min(1).max(64).optional(),
}).strict();

const Resolve = z
  .strictObject({
    action: z.enum(["retry", "cancel", "accept"]),
    note: z.string().trim().max(2000).optional().openapi({ description: "Why; stored on the exception and in the audit trail" }),
  })
  .openapi("ResolveException");

export const listExceptions = createRoute({
  method: "get",
  path: "/v1/exceptions",
  tags,
  summary: "The exception queue: failed, dead-lettered, held, suspicious; newest first",
  description: "Readable by auditors too (API.md: the auditor reads everything).",
  ...protect(["operator", "finance", "support", "auditor"]),
  request: { query: ExceptionQuery },
  responses: { 200: json(page(ExceptionSchema), "Exceptions"), ...problems(400, 401, 403) },
});

export const resolveException = createRoute({
  method: "post",
  path: "/v1/exceptions/{id}/resolve",
  tags,
  summary: "Resolve an exception: retry, cancel or accept",
  description:
    "retry: a failed or held delivery is delivered again (queued again while its batch is delivering; sent at once through a retry hold after the batch ended). " +
    "cancel: the delivery becomes failed for good, its committed value is refunded and an unsent code goes back to the inventory; the batch may complete. " +
    "For expired_hold_unreleased, cancel releases the hold's rest to the pool's available balance (409 invalid_state_transition while its batch is submitted, approved, releasing or delivering: cancel the batch instead); accept leaves the hold as it is; retry is refused. " +
    "accept: resolved as it is. An exception resolves once: a second resolution is 409 already_resolved.",
  ...protect(["operator", "finance"]),
  request: { params: IdParam("exc"), headers: IdempotencyHeader, body: jsonBody(Resolve) },
  responses: { 200: json(ExceptionSchema, "The resolved exception"), ...problems(400, 401, 403, 404, 409, 422) },
});
