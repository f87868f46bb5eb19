import { createRoute, z } from "@hono/zod-openapi";
import { IdParam, IdempotencyHeader, ListQuery, json, jsonBody, page, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";

export const SuppressionSchema = z
  .object({
    id: z.string().openapi({ example: "sup_01jd..." }),
    kind: z.enum(["email", "phone"]),
    value: z.string().openapi({ description: "Normalised: lower-case email without +tag, or E.164 phone" }),
    reason: z.string(),
    created_by: z.string(),
    created_at: z.string(),
  })
  .openapi("Suppression");

const Entry = z
  .strictObject({
    email: z.string().max(254).optional(),
    phone: z.string().max(40).optional(),
    country: z.string().length(2).optional().openapi({ description: "Reads a national-format phone number" }),
    reason: z.string().trim().min(1).max(500),
  })
  .refine((e) => (e.email === undefined) !== (e.phone === undefined), "Give exactly one of email or phone");

const AddSuppressions = z.strictObject({ entries: z.array(Entry).min(1).max(1000) }).openapi("AddSuppressions");

const tags = ["Suppressions"];

export const addSuppressions = createRoute({
  method: "post",
  path: "/v1/suppressions",
  tags,
  summary: "Add recipients who must never be paid",
  ...protect(["admin", "support"]),
  request: { headers: IdempotencyHeader, body: jsonBody(AddSuppressions) },
  responses: { 201: json(z.object({ data: z.array(SuppressionSchema) }), "The entries as stored (existing ones unchanged)"), ...problems(400, 401, 403, 422) },
});

export const listSuppressions = createRoute({
  method: "get",
  path: "/v1/suppressions",
  tags,
  summary: "The suppression list, newest first",
  ...protect(["admin", "support", "auditor"]),
  request: { query: ListQuery },
  responses: { 200: json(page(SuppressionSchema), "Suppressions"), ...problems(400, 401, 403) },
});

export const deleteSuppression = createRoute({
  method: "delete",
  path: "/v1/suppressions/{id}",
  tags,
  summary: "Remove a suppression",
  ...protect(["admin"]),
  request: { params: IdParam("sup") },
  responses: { 204: { description: "Removed" }, ...problems(401, 403, 404) },
});
