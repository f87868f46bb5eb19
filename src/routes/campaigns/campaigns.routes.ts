import { createRoute } from "@hono/zod-openapi";
import { IdParam, IdempotencyHeader, ListQuery, json, jsonBody, page, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";
import * as s from "./campaigns.schemas";

const tags = ["Campaigns"];
const CampaignId = IdParam("cmp");

export const createCampaign = createRoute({
  method: "post",
  path: "/v1/campaigns",
  tags,
  summary: "Create a campaign (status draft)",
  description:
    "Rules (`rules`, each tier's `when`) are CEL over `event` ({ type, occurred_at, properties }) and `customer` ({ external_id, email, phone, name, country, attributes, rewards_received, rewarded_amount }); " +
    "they are parsed and type-checked here: one that does not compile answers 400 `validation_failed` with the field's `pointer` and the error's `position` (0-based character offset) in `errors[]`. " +
    "The product must pay in the pool's currency and every amount be within its range.",
  ...protect(["admin", "operator"]),
  request: { headers: IdempotencyHeader, body: jsonBody(s.CreateCampaign) },
  responses: { 201: json(s.CampaignSchema, "The new campaign"), ...problems(400, 401, 403, 404, 422) },
});

export const listCampaigns = createRoute({
  method: "get",
  path: "/v1/campaigns",
  tags,
  summary: "List campaigns, newest first",
  ...protect("any"),
  request: { query: ListQuery },
  responses: { 200: json(page(s.CampaignSchema), "Campaigns"), ...problems(400, 401, 403) },
});

export const getCampaign = createRoute({
  method: "get",
  path: "/v1/campaigns/{id}",
  tags,
  summary: "A campaign: status, budget, counts, paused_reason, spend by day",
  ...protect("any"),
  request: { params: CampaignId },
  responses: { 200: json(s.CampaignSchema, "The campaign"), ...problems(401, 403, 404) },
});

export const patchCampaign = createRoute({
  method: "patch",
  path: "/v1/campaigns/{id}",
  tags,
  summary: "Edit a draft or paused campaign",
  ...protect(["admin", "operator"]),
  request: { params: CampaignId, body: jsonBody(s.PatchCampaign) },
  responses: { 200: json(s.CampaignSchema, "The campaign"), ...problems(400, 401, 403, 404, 409) },
});

const action = (name: string, summary: string, description: string, roles: Parameters<typeof protect>[0]) =>
  createRoute({
    method: "post",
    path: `/v1/campaigns/{id}/${name}`,
    tags,
    summary,
    description,
    ...protect(roles),
    request: { params: CampaignId, headers: IdempotencyHeader },
    responses: { 200: json(s.CampaignSchema, "The campaign"), ...problems(400, 401, 403, 404, 409, 422) },
  });

export const activateCampaign = action(
  "activate",
  "Activate a draft: reserve its budget in the pool",
  "Reserves budget.amount in the pool as the campaign's hold (409 `insufficient_funds` or `limit_exceeded`, nothing changed) → `active`. Takes no body.",
  ["finance"],
);
export const pauseCampaign = action("pause", "Pause an active campaign (events are skipped with campaign_paused)", "paused_reason `manual`. Takes no body.", [
  "operator",
  "finance",
  "admin",
]);
export const resumeCampaign = action(
  "resume",
  "Resume a paused campaign",
  "Refused (409) while the committed value is at or above pause_at_pct of the budget: top it up or raise pause_at_pct first. Takes no body.",
  ["operator", "finance", "admin"],
);
export const endCampaign = action(
  "end",
  "End a campaign and release the rest of its budget once",
  "→ `ended`; what the hold still reserves goes back to the pool (exactly once). Rewards already granted still deliver. Takes no body.",
  ["operator", "finance"],
);

export const topUpCampaign = createRoute({
  method: "post",
  path: "/v1/campaigns/{id}/budget",
  tags,
  summary: "Top up an active or paused campaign's budget",
  description: "Reserves `amount` more in the pool (another hold of the campaign) and adds it to budget.amount. 409 `insufficient_funds` changes nothing.",
  ...protect(["finance"]),
  request: { params: CampaignId, headers: IdempotencyHeader, body: jsonBody(s.TopUp) },
  responses: { 200: json(s.CampaignSchema, "The campaign"), ...problems(400, 401, 403, 404, 409, 422) },
});

export const listCampaignApprovals = createRoute({
  method: "get",
  path: "/v1/campaigns/{id}/approvals",
  tags,
  summary: "Approval requests: one per campaign per UTC day, every pending reward listed",
  description:
    "Each request shows its `round` (a request reopened by a later reward, or whose list grew after someone approved, starts a new round) and the current round's `decisions` by step.",
  ...protect("any"),
  request: { params: CampaignId },
  responses: { 200: json(s.ApprovalRequests, "The last 60 days with requests, newest first"), ...problems(401, 403, 404) },
});

export const decideCampaignApproval = createRoute({
  method: "post",
  path: "/v1/campaigns/{id}/approvals/{day}",
  tags,
  summary: "Approve or reject a day's pending rewards (one step's decision)",
  description:
    "The same decision as the day's emailed approval link (`/approve/{token}`). The day's steps are the org's `approval_policy` steps (snapshot when the day's request opened or started its round) " +
    "that apply to the total of the day's pending rewards, as a batch's valid total selects them: each step needs `quorum` distinct approvers holding its role, " +
    "a token without the current step's role answers 403 `forbidden`, and each person decides once per round (409 `already_decided`). " +
    "The last step's last approval approves every reward of the day pending at that moment (their deliveries are created and queued at once); " +
    "any rejection rejects them (their value goes back to the campaign's budget). `outcome` says which: `recorded`, `step_completed` (the next step's approvers are emailed), `approved`, `rejected`. " +
    "Whoever created or edited the campaign is refused (403 `self_approval_forbidden`, four-eyes) and is never emailed a link; a decided day answers 409 `already_decided` until a new pending reward reopens it.",
  ...protect(["finance", "owner", "operator"]),
  request: { params: s.ApprovalDay, headers: IdempotencyHeader, body: jsonBody(s.ApprovalDecision) },
  responses: { 200: json(s.ApprovalResult, "What was decided"), ...problems(400, 401, 403, 404, 409, 422) },
});
