import { named } from "../../core/openapi";
import { createRouter, type AppRouteHandler } from "../../core/router";
import * as suppressions from "../../settings/suppressions.service";
import * as routeDefs from "./suppressions.routes";

const routes = named(routeDefs);

const addSuppressions: AppRouteHandler<typeof routes.addSuppressions> = async (c) => {
  const data = await suppressions.addSuppressions(c.env, c.var.auth, c.req.valid("json").entries, c.var.requestId);
  return c.json({ data }, 201);
};

const listSuppressions: AppRouteHandler<typeof routes.listSuppressions> = async (c) => {
  const { limit, cursor } = c.req.valid("query");
  return c.json(await suppressions.listSuppressions(c.env.DB, c.var.auth.org, limit, cursor), 200);
};

const deleteSuppression: AppRouteHandler<typeof routes.deleteSuppression> = async (c) => {
  await suppressions.deleteSuppression(c.env, c.var.auth, c.req.valid("param").id, c.var.requestId);
  return c.body(null, 204);
};

export default createRouter()
  .openapi(routes.addSuppressions, addSuppressions)
  .openapi(routes.listSuppressions, listSuppressions)
  .openapi(routes.deleteSuppression, deleteSuppression);
