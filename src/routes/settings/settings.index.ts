import { AppError } from "../../core/errors";
import { named } from "../../core/openapi";
import { createRouter, type AppRouteHandler } from "../../core/router";
import * as settings from "../../settings/settings.service";
import * as routeDefs from "./settings.routes";

const routes = named(routeDefs);

const getSettings: AppRouteHandler<typeof routes.getSettings> = async (c) => c.json(await settings.getSettings(c.env.DB, c.var.auth.org), 200);

const putSettings: AppRouteHandler<typeof routes.putSettings> = async (c) => {
  // Validation fills in defaults, so only the body as sent tells an empty one from a real document.
  const sent: unknown = c.req.header("content-type") ? await c.req.json() : undefined;
  if (typeof sent !== "object" || sent === null || Object.keys(sent).length === 0) {
    throw new AppError("validation_failed", "Send the settings as a JSON object naming at least one setting; omitted ones take their defaults", {
      errors: [{ pointer: "", code: "required", detail: "A settings document (GET /v1/settings shows the current one)" }],
    });
  }
  const { version, updated_by: _by, updated_at: _at, ...input } = c.req.valid("json");
  return c.json(await settings.putSettings(c.env, c.var.auth, input, { expectedVersion: version, requestId: c.var.requestId }), 200);
};

export default createRouter().openapi(routes.getSettings, getSettings).openapi(routes.putSettings, putSettings);
