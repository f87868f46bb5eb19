/** OpenAPI contracts of the approval-link pages (served as HTML by links.index.tsx). */
import { createRoute, z } from "@hono/zod-openapi";

const tags = ["Approval links"];
const TokenParam = z.object({
  token: z
    .string()
    .min(1)
    .max(4096)
    .openapi({ param: { name: "token", in: "path" }, description: "The signed approval token from the email" }),
});
const html = (description: string) => ({ description, content: { "text/html": { schema: z.string() } } });
const errorPages = {
  403: html(
    "Someone who created, uploaded to or submitted the batch (or created or edited the campaign); or the approver is suspended, removed, no longer enrolled with the step's role, or re-enrolled since the link was sent",
  ),
  404: html("Not a valid approval link (bad signature, another audience such as an API token, unknown request)"),
  409: html(
    "Already used, no longer needed, the batch changed, or the batch no longer awaits approval; for a campaign day: the day was decided, its approvals started a new round, or its pending rewards changed since the page was shown",
  ),
  410: html("The link has expired (the page offers a new one by email when a new one would work)"),
};

export const DecisionForm = z.object({
  decision: z.enum(["approve", "reject"]),
  comment: z.string().trim().max(2000).optional(),
  fingerprint: z
    .string()
    .max(200)
    .optional()
    .openapi({ description: "Campaign-day pages only: the list of pending rewards the page showed; a list changed since answers 409" }),
});

export const openLink = createRoute({
  method: "get",
  path: "/approve/{token}",
  tags,
  summary: "The approval page: batch summary and anomalies, or a campaign day's pending rewards; Approve / Reject",
  description:
    "No bearer token: the signed link is the credential. Changes nothing (mail scanners open links); the first opening is audited. Sent with Referrer-Policy: no-referrer. " +
    'Two subjects: a submitted batch, or a campaign\'s rewards pending approval on one UTC day (campaign name and id, day, owner, currency, count, total and the pending rewards: event id, external id, amount; the first 100, then "and N more"). ' +
    "A campaign day's link keeps working as more rewards arrive that day: the page shows the list as it is when opened.",
  request: { params: TokenParam },
  responses: { 200: html("The page"), ...errorPages },
});

export const decideLink = createRoute({
  method: "post",
  path: "/approve/{token}",
  tags,
  summary: "Decide through the link (form post), once",
  description:
    "The same decision as the API (`POST /v1/batches/{id}/approvals`, or `POST /v1/campaigns/{id}/approvals/{day}` for a campaign day). A campaign day's form posts back the `fingerprint` of the list it showed.",
  request: { params: TokenParam, body: { required: true, content: { "application/x-www-form-urlencoded": { schema: DecisionForm } } } },
  responses: { 200: html("The outcome"), 400: html("No valid decision in the form"), ...errorPages },
});

export const renewLink = createRoute({
  method: "post",
  path: "/approve/{token}/renew",
  tags,
  summary: "Email the approver a new link in place of this expired one",
  description:
    "Both subjects (a batch, a campaign's day). For an expired link that would otherwise still work (pending, its step current, the batch unchanged, the approver still active and enrolled with the step's role). " +
    "The new link goes to the approver's confirmed enrolled email, never to the page; the old link is superseded. One renewal per link.",
  request: { params: TokenParam },
  responses: {
    200: html("The new link was emailed"),
    502: html("The new link was made but the email failed; the batch's submitter can re-send links through the API"),
    403: html("No longer an approver of this step"),
    404: html("Not a valid approval link"),
    409: html("The link still works, was used, was already replaced, or the batch changed or no longer awaits approval"),
  },
});
