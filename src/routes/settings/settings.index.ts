import { createRouter, type AppRouteHandler } from "../../core/router";
import * as settings from "../../settings/settings.service";
import * as routes from "./settings.routes";

const getSettings: AppRouteHandler<typeof routes.getSettings> = async (c) => c.json(await settings.getSettings(c.env.DB, c.var.auth.org), 200);

const putSettings: AppRouteHandler<typeof routes.putSettings> = async (c) =>
  c.json(await settings.putSettings(c.env, c.var.auth, c.req.valid("json"), c.var.requestId), 200);

export default createRouter().openapi(routes.getSettings, getSettings).openapi(routes.putSettings, putSettings);
