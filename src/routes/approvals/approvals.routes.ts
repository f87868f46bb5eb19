import { createRoute } from "@hono/zod-openapi";
import { IdParam, IdempotencyHeader, json, jsonBody, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";
import { BatchSchema } from "../batches/batches.schemas";
import { ApprovalsSchema, DecisionBody, DecisionResultSchema, ResendBody, ResendResultSchema } from "./approvals.schemas";

const tags = ["Approvals"];
const BatchId = IdParam("bat");

export const submitBatch = createRoute({
  method: "post",
  path: "/v1/batches/{id}/submit",
  tags,
  summary: "Submit a validated batch: reserve its funds and start approval",
  description:
    "Reserves the valid total in the pool (a hold that expires after HOLD_TTL_HOURS, default 7 days, and never before release_at + 1 day), " +
    "records the content hash approvals are bound to and the approval steps of the org's policy at this moment, moves the batch to `submitted` " +
    "and emails the first step's active enrolled approvers (never anyone who created, uploaded to or submitted the batch) a single-use link. 409 `insufficient_funds` / `limit_exceeded` leave the batch unchanged. " +
    "A cancel that lands while this runs wins or loses as a whole: the loser answers 409, and a submit that lost gives its hold back at once.",
  ...protect(["operator", "integrator"]),
  request: { params: BatchId, headers: IdempotencyHeader },
  responses: { 200: json(BatchSchema, "The submitted batch"), ...problems(400, 401, 403, 404, 409, 422) },
});

export const listApprovals = createRoute({
  method: "get",
  path: "/v1/batches/{id}/approvals",
  tags,
  summary: "Approval steps, requests, who decided when, and the approval trail",
  ...protect("any"),
  request: { params: BatchId },
  responses: { 200: json(ApprovalsSchema, "The batch's approvals"), ...problems(401, 403, 404) },
});

export const decide = createRoute({
  method: "post",
  path: "/v1/batches/{id}/approvals",
  tags,
  summary: "Approve or reject the batch's current step",
  description:
    "Needs the role of the current step (see GET). Whoever created, uploaded recipients to or submitted the batch never decides (403 `self_approval_forbidden`); each person decides on a batch once " +
    "(409 `already_decided`); a step completes when `quorum` distinct approvers approved. A rejection ends the batch (`rejected`) and releases its hold; " +
    "the last step's approval makes it `approved` and, with auto-release and no later release_at, releases it to delivery at once.",
  ...protect("any"),
  request: { params: BatchId, headers: IdempotencyHeader, body: jsonBody(DecisionBody) },
  responses: { 200: json(DecisionResultSchema, "The decision's outcome and the approvals after it"), ...problems(400, 401, 403, 404, 409, 422) },
});

export const resendLinks = createRoute({
  method: "post",
  path: "/v1/batches/{id}/approvals/resend",
  tags,
  summary: "Email new approval links for the current step",
  description:
    "While the batch is `submitted`: new single-use links to the current step's approvers who have yet to decide (or only `approver_sub`), " +
    "at their confirmed enrolled email (GET /v1/approvers), for a lost email, an expired link or a failed send. Each approver's earlier pending link is superseded in the same " +
    "transaction. At most one re-send per approver every 10 minutes unless their last email failed (listed in `skipped`; 429 `rate_limited` with " +
    "Retry-After when nobody is due). An approver can also get a new link from an expired link's page. Not in API.md v1: an addition.",
  ...protect(["operator", "integrator", "admin"]),
  request: { params: BatchId, headers: IdempotencyHeader, body: { required: false, content: { "application/json": { schema: ResendBody } } } },
  responses: { 200: json(ResendResultSchema, "The new links and the approvals after them"), ...problems(400, 401, 403, 404, 409, 422, 429) },
});

export const releaseBatch = createRoute({
  method: "post",
  path: "/v1/batches/{id}/release",
  tags,
  summary: "Release an approved batch to delivery",
  description:
    "For batches that were not released automatically (auto-release off). Refused before the batch's release_at. Releasing a batch that is already `releasing` re-sends the hand-off.",
  ...protect(["operator"]),
  request: { params: BatchId, headers: IdempotencyHeader },
  responses: { 200: json(BatchSchema, "The batch, now releasing"), ...problems(400, 401, 403, 404, 409, 422) },
});
