import { publicOrigin } from "../../approvals/config";
import { named } from "../../core/openapi";
import { createRouter, expectNoBody, type AppRouteHandler } from "../../core/router";
import * as campaigns from "../../campaigns/campaigns.service";
import * as approvals from "../../campaigns/approvals";
import { listApprovals } from "../../campaigns/approvals-list";
import * as lifecycle from "../../campaigns/lifecycle";
import * as routeDefs from "./campaigns.routes";

const routes = named(routeDefs);

const createCampaign: AppRouteHandler<typeof routes.createCampaign> = async (c) => {
  const campaign = await campaigns.createCampaign(c.env, c.var.auth, c.req.valid("json"), c.var.requestId);
  return c.json(campaign, 201, { location: `/v1/campaigns/${campaign.id}` });
};

const listCampaigns: AppRouteHandler<typeof routes.listCampaigns> = async (c) => {
  const { limit, cursor } = c.req.valid("query");
  return c.json(await campaigns.listCampaigns(c.env, c.var.auth.org, limit, cursor), 200);
};

const getCampaign: AppRouteHandler<typeof routes.getCampaign> = async (c) =>
  c.json(await campaigns.getCampaign(c.env, c.var.auth.org, c.req.valid("param").id), 200);

const patchCampaign: AppRouteHandler<typeof routes.patchCampaign> = async (c) =>
  c.json(await campaigns.patchCampaign(c.env, c.var.auth, c.req.valid("param").id, c.req.valid("json"), c.var.requestId), 200);

type Action = (
  env: Parameters<typeof lifecycle.pauseCampaign>[0],
  auth: Parameters<typeof lifecycle.pauseCampaign>[1],
  id: string,
  requestId?: string,
) => ReturnType<typeof lifecycle.pauseCampaign>;
const act =
  (fn: Action): AppRouteHandler<typeof routes.pauseCampaign> =>
  async (c) => {
    await expectNoBody(c);
    return c.json(await fn(c.env, c.var.auth, c.req.valid("param").id, c.var.requestId), 200);
  };

const topUpCampaign: AppRouteHandler<typeof routes.topUpCampaign> = async (c) =>
  c.json(await lifecycle.topUpCampaign(c.env, c.var.auth, c.req.valid("param").id, c.req.valid("json").amount, c.var.requestId), 200);

const listCampaignApprovals: AppRouteHandler<typeof routes.listCampaignApprovals> = async (c) =>
  c.json(await listApprovals(c.env, c.var.auth.org, c.req.valid("param").id), 200);

const decideCampaignApproval: AppRouteHandler<typeof routes.decideCampaignApproval> = async (c) => {
  const { id, day } = c.req.valid("param");
  const { decision, comment } = c.req.valid("json");
  return c.json(await approvals.decideApproval(c.env, c.var.auth, id, day, decision, comment ?? null, publicOrigin(c.env, c.req.url), c.var.requestId), 200);
};

export default createRouter()
  .openapi(routes.createCampaign, createCampaign)
  .openapi(routes.listCampaigns, listCampaigns)
  .openapi(routes.getCampaign, getCampaign)
  .openapi(routes.patchCampaign, patchCampaign)
  .openapi(routes.activateCampaign, act(lifecycle.activateCampaign))
  .openapi(routes.pauseCampaign, act(lifecycle.pauseCampaign))
  .openapi(routes.resumeCampaign, act(lifecycle.resumeCampaign))
  .openapi(routes.endCampaign, act(lifecycle.endCampaign))
  .openapi(routes.topUpCampaign, topUpCampaign)
  .openapi(routes.listCampaignApprovals, listCampaignApprovals)
  .openapi(routes.decideCampaignApproval, decideCampaignApproval);
