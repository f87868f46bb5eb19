import { createRoute } from "@hono/zod-openapi";
import { IdempotencyHeader, ListQuery, json, jsonBody, page, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";
import { ApproverSchema, EnrolBody, EnrolResultSchema, SubParam } from "./approvers.schemas";

const tags = ["Approvers"];

export const enrolApprover = createRoute({
  method: "post",
  path: "/v1/approvers/enrol",
  tags,
  summary: "Enrol yourself as an approver (a verification link goes to the address)",
  description:
    "The caller enrols itself: `sub` and the approval roles (finance, owner, operator) come from the caller's own token, never from the body, which holds only `email`. " +
    "A single-use, expiring verification link goes to `email` (POST /verify/{token} confirms it); the approver is `pending` until the first confirmation. " +
    "Enrolling again (another address, or a token with other roles) makes a new enrolment that needs its own confirmation, and the address on file is told by email; " +
    "a confirmed approver keeps their current email and roles (and stays active) until the new address confirms, and an earlier unconfirmed link stops working.",
  ...protect(["finance", "owner", "operator"]),
  request: { headers: IdempotencyHeader, body: jsonBody(EnrolBody) },
  responses: { 202: json(EnrolResultSchema, "Enrolment recorded; confirmation pending"), ...problems(400, 401, 403, 409, 422) },
});

export const listApprovers = createRoute({
  method: "get",
  path: "/v1/approvers",
  tags,
  summary: "The org's approvers, by sub",
  ...protect("any"),
  request: { query: ListQuery },
  responses: { 200: json(page(ApproverSchema), "Approvers"), ...problems(400, 401, 403) },
});

export const suspendApprover = createRoute({
  method: "post",
  path: "/v1/approvers/{sub}/suspend",
  tags,
  summary: "Suspend an approver: no new links, and their pending links stop working at once",
  description:
    "From `active` or `pending`. The approver's email and roles are kept; POST .../reinstate undoes it. 409 `invalid_state_transition` when already suspended.",
  ...protect(["admin"]),
  request: { params: SubParam, headers: IdempotencyHeader },
  responses: { 200: json(ApproverSchema, "The suspended approver"), ...problems(400, 401, 403, 404, 409, 422) },
});

export const reinstateApprover = createRoute({
  method: "post",
  path: "/v1/approvers/{sub}/reinstate",
  tags,
  summary: "Reinstate a suspended approver, with the same email and roles",
  description: "Back to `active` (or to `pending` if the address was never confirmed). 409 `invalid_state_transition` unless suspended.",
  ...protect(["admin"]),
  request: { params: SubParam, headers: IdempotencyHeader },
  responses: { 200: json(ApproverSchema, "The reinstated approver"), ...problems(400, 401, 403, 404, 409, 422) },
});

export const deleteApprover = createRoute({
  method: "delete",
  path: "/v1/approvers/{sub}",
  tags,
  summary: "Remove an approver",
  description: "Their links stop working and their unconfirmed verification links too. They can enrol again themselves.",
  ...protect(["admin"]),
  request: { params: SubParam },
  responses: { 204: { description: "Removed" }, ...problems(401, 403, 404, 409) },
});
