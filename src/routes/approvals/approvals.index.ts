import { publicOrigin } from "../../approvals/config";
import { resendLinks as resend } from "../../approvals/resend";
import { decide as decideApproval } from "../../approvals/service";
import { approvalsView } from "../../approvals/view";
import { releaseByOperator } from "../../approvals/release";
import { submitBatch as submit } from "../../approvals/submit";
import { named } from "../../core/openapi";
import { createRouter, expectNoBody, type AppRouteHandler } from "../../core/router";
import * as routeDefs from "./approvals.routes";

const routes = named(routeDefs);

const submitBatch: AppRouteHandler<typeof routes.submitBatch> = async (c) => {
  await expectNoBody(c);
  const batch = await submit(c.env, c.var.auth, c.req.valid("param").id, publicOrigin(c.env, c.req.url), c.var.requestId);
  return c.json(batch, 200);
};

const listApprovals: AppRouteHandler<typeof routes.listApprovals> = async (c) =>
  c.json(await approvalsView(c.env, c.var.auth.org, c.req.valid("param").id), 200);

const decide: AppRouteHandler<typeof routes.decide> = async (c) => {
  const { id } = c.req.valid("param");
  const { decision, comment } = c.req.valid("json");
  const { sub, roles, org } = c.var.auth;
  const plan = await decideApproval(
    c.env,
    { org, batchId: id, decider: { sub, roles }, decision, comment: comment || null, requestId: c.var.requestId },
    publicOrigin(c.env, c.req.url),
  );
  return c.json({ outcome: plan.outcome, ...(await approvalsView(c.env, org, id)) }, 200);
};

const resendLinks: AppRouteHandler<typeof routes.resendLinks> = async (c) => {
  const body = c.req.valid("json") ?? {};
  return c.json(await resend(c.env, c.var.auth, c.req.valid("param").id, body, publicOrigin(c.env, c.req.url), c.var.requestId), 200);
};

const releaseBatch: AppRouteHandler<typeof routes.releaseBatch> = async (c) => {
  await expectNoBody(c);
  return c.json(await releaseByOperator(c.env, c.var.auth, c.req.valid("param").id, c.var.requestId), 200);
};

export default createRouter()
  .openapi(routes.submitBatch, submitBatch)
  .openapi(routes.listApprovals, listApprovals)
  .openapi(routes.decide, decide)
  .openapi(routes.resendLinks, resendLinks)
  .openapi(routes.releaseBatch, releaseBatch);
