import { createRoute, z } from "@hono/zod-openapi";
import { json, problems } from "../../core/openapi";

export const OutboxMessageSchema = z
  .object({
    id: z.string(),
    org: z.string(),
    channel: z.enum(["email", "sms", "link"]),
    to: z.string(),
    subject: z.string().nullable(),
    text: z.string(),
    html: z.string().nullable(),
    links: z.array(z.string()),
    created_at: z.string(),
  })
  .openapi("OutboxMessage");

export const outbox = createRoute({
  method: "get",
  path: "/dev/outbox",
  tags: ["Development"],
  summary: "Messages channels would have sent (local development without provider keys only)",
  description: "Newest first. Exists only when the Worker runs in development mode without RESEND_API_KEY / SMS keys; 404 otherwise.",
  request: {
    query: z.object({
      to: z.string().max(320).optional(),
      channel: z.enum(["email", "sms", "link"]).optional(),
      limit: z.coerce.number().int().min(1).max(500).default(50),
    }),
  },
  responses: { 200: json(z.object({ data: z.array(OutboxMessageSchema) }), "Messages, newest first"), ...problems(400, 404) },
});
