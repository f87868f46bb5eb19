/** OpenAPI contract of the recipient's claim page (served as HTML by claim.index.tsx). */
import { createRoute, z } from "@hono/zod-openapi";

const html = (description: string) => ({ description, content: { "text/html": { schema: z.string() } } });

export const openClaim = createRoute({
  method: "get",
  path: "/claim/{token}",
  tags: ["Claim links"],
  summary: "The recipient's claim page: reward code, amount, product, expiry",
  description:
    "No bearer token: the signed claim token (from the `link` channel, or the link in a reward SMS) is the credential. " +
    "Shows the code only while the delivery is delivered (a reissued or reversed reward's old link stops working). " +
    "The first opening is recorded (deliveries.claim_opened_at, audit event delivery.claim_opened). " +
    "Sent with Referrer-Policy: no-referrer and Cache-Control: no-store.",
  request: {
    params: z.object({
      token: z
        .string()
        .max(4096)
        .openapi({ param: { name: "token", in: "path" }, description: "The signed claim token" }),
    }),
  },
  responses: { 200: html("The claim page"), 404: html("Not a valid, current claim link (bad signature, expired, replaced, reversed)") },
});
