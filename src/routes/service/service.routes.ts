import { createRoute, z } from "@hono/zod-openapi";
import { json, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";
import { ROLES } from "../../env";

export const health = createRoute({
  method: "get",
  path: "/health",
  tags: ["Service"],
  summary: "Liveness check",
  responses: { 200: json(z.object({ status: z.literal("ok") }), "The service is up") },
});

export const MeSchema = z.object({ sub: z.string(), org: z.string(), roles: z.array(z.enum(ROLES)) }).openapi("Me");

export const me = createRoute({
  method: "get",
  path: "/v1/me",
  tags: ["Service"],
  summary: "The caller as the token describes it",
  description: "Any valid token, also one that holds none of the org roles (every other route needs one).",
  ...protect("token"),
  responses: { 200: json(MeSchema, "The caller"), ...problems(401) },
});
