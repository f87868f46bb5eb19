import { named } from "../../core/openapi";
import { createRouter, type AppRouteHandler } from "../../core/router";
import * as routeDefs from "./service.routes";

const routes = named(routeDefs);

const health: AppRouteHandler<typeof routes.health> = (c) => c.json({ status: "ok" as const }, 200);

const me: AppRouteHandler<typeof routes.me> = (c) => {
  const { sub, org, roles } = c.var.auth;
  return c.json({ sub, org, roles }, 200);
};

export default createRouter().openapi(routes.health, health).openapi(routes.me, me);
