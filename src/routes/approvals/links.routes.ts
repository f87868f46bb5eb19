/** OpenAPI contracts of the approval-link pages (served as HTML by links.index.tsx). */
import { createRoute, z } from "@hono/zod-openapi";

const tags = ["Approval links"];
const TokenParam = z.object({ token: z.string().min(1).max(4096).openapi({ param: { name: "token", in: "path" }, description: "The signed approval token from the email" }) });
const html = (description: string) => ({ description, content: { "text/html": { schema: z.string() } } });
const errorPages = {
  403: html("The creator of the batch, or no longer an approver"),
  404: html("Not a valid approval link (bad signature, another audience such as an API token, unknown request)"),
  409: html("Already used, no longer needed, the batch changed, or the batch no longer awaits approval"),
  410: html("The link has expired"),
};

export const DecisionForm = z.object({
  decision: z.enum(["approve", "reject"]),
  comment: z.string().trim().max(2000).optional(),
});

export const openLink = createRoute({
  method: "get", path: "/approve/{token}", tags, summary: "The approval page: batch summary, anomalies, Approve / Reject",
  description: "No bearer token: the signed link is the credential. Changes nothing (mail scanners open links); the first opening is audited. Sent with Referrer-Policy: no-referrer.",
  request: { params: TokenParam },
  responses: { 200: html("The page"), ...errorPages },
});

export const decideLink = createRoute({
  method: "post", path: "/approve/{token}", tags, summary: "Decide through the link (form post), once",
  request: { params: TokenParam, body: { required: true, content: { "application/x-www-form-urlencoded": { schema: DecisionForm } } } },
  responses: { 200: html("The outcome"), 400: html("No valid decision in the form"), ...errorPages },
});
