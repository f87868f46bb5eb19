import { createRoute } from "@hono/zod-openapi";
import { json, jsonBody, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";
import { SettingsPutBody, SettingsSchema } from "../../settings/settings.schema";

const tags = ["Settings"];

export const getSettings = createRoute({
  method: "get",
  path: "/v1/settings",
  tags,
  summary: "The org's settings (defaults until an admin saves them)",
  ...protect("any"),
  responses: { 200: json(SettingsSchema, "The settings"), ...problems(401, 403) },
});

export const putSettings = createRoute({
  method: "put",
  path: "/v1/settings",
  tags,
  summary: "Replace the org's settings (validated as a whole; omitted fields take their defaults)",
  description:
    "The body names at least one setting: an empty or missing body is refused (400) rather than resetting every setting. " +
    "Approvers are not settings: a body with `approvers` is refused (400 `validation_failed`, pointer `/approvers`); people enrol themselves (POST /v1/approvers/enrol). " +
    "What GET answered can be sent back as it is; its `version` makes the PUT conditional (409 `conflict` when someone saved meanwhile).",
  ...protect(["admin"]),
  request: { body: jsonBody(SettingsPutBody) },
  responses: { 200: json(SettingsSchema, "The saved settings"), ...problems(400, 401, 403, 409) },
});
