import { named } from "../../core/openapi";
import { createRouter, type AppRouteHandler } from "../../core/router";
import { listExceptions as list } from "../../exceptions/exceptions.query";
import { resolveException as resolve } from "../../exceptions/exceptions.resolve";
import * as routeDefs from "./exceptions.routes";

const routes = named(routeDefs);

const listExceptions: AppRouteHandler<typeof routes.listExceptions> = async (c) => c.json(await list(c.env.DB, c.var.auth.org, c.req.valid("query")), 200);

const resolveException: AppRouteHandler<typeof routes.resolveException> = async (c) =>
  c.json(await resolve(c.env, c.var.auth, c.req.valid("param").id, c.req.valid("json"), c.var.requestId), 200);

export default createRouter().openapi(routes.listExceptions, listExceptions).openapi(routes.resolveException, resolveException);
