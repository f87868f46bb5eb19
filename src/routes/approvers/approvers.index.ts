import { publicOrigin } from "../../approvals/config";
import { deleteApprover as remove, reinstateApprover as reinstate, suspendApprover as suspend } from "../../approvers/approvers.service";
import { enrol } from "../../approvers/enrol";
import { listApprovers as list } from "../../approvers/view";
import { named } from "../../core/openapi";
import { createRouter, expectNoBody, type AppRouteHandler } from "../../core/router";
import * as routeDefs from "./approvers.routes";

const routes = named(routeDefs);

const enrolApprover: AppRouteHandler<typeof routes.enrolApprover> = async (c) =>
  c.json(await enrol(c.env, c.var.auth, c.req.valid("json").email, publicOrigin(c.env, c.req.url), c.var.requestId), 202);

const listApprovers: AppRouteHandler<typeof routes.listApprovers> = async (c) => {
  const { limit, cursor } = c.req.valid("query");
  return c.json(await list(c.env.DB, c.var.auth.org, limit, cursor), 200);
};

const suspendApprover: AppRouteHandler<typeof routes.suspendApprover> = async (c) => {
  await expectNoBody(c);
  return c.json(await suspend(c.env, c.var.auth, c.req.valid("param").sub, c.var.requestId), 200);
};

const reinstateApprover: AppRouteHandler<typeof routes.reinstateApprover> = async (c) => {
  await expectNoBody(c);
  return c.json(await reinstate(c.env, c.var.auth, c.req.valid("param").sub, c.var.requestId), 200);
};

const deleteApprover: AppRouteHandler<typeof routes.deleteApprover> = async (c) => {
  await remove(c.env, c.var.auth, c.req.valid("param").sub, c.var.requestId);
  return c.body(null, 204);
};

export default createRouter()
  .openapi(routes.enrolApprover, enrolApprover)
  .openapi(routes.listApprovers, listApprovers)
  .openapi(routes.suspendApprover, suspendApprover)
  .openapi(routes.reinstateApprover, reinstateApprover)
  .openapi(routes.deleteApprover, deleteApprover);
