import { createRoute } from "@hono/zod-openapi";
import { json, jsonBody, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";
import { SettingsInput, SettingsSchema } from "../../settings/settings.schema";

const tags = ["Settings"];

export const getSettings = createRoute({
  method: "get", path: "/v1/settings", tags, summary: "The org's settings (defaults until an admin saves them)",
  ...protect("any"),
  responses: { 200: json(SettingsSchema, "The settings"), ...problems(401, 403) },
});

export const putSettings = createRoute({
  method: "put", path: "/v1/settings", tags, summary: "Replace the org's settings (validated as a whole; omitted fields take their defaults)",
  ...protect(["admin"]),
  request: { body: jsonBody(SettingsInput) },
  responses: { 200: json(SettingsSchema, "The saved settings"), ...problems(400, 401, 403, 409) },
});
