/** OpenAPI contracts of the approver verification pages (served as HTML by verify.index.tsx). */
import { createRoute, z } from "@hono/zod-openapi";

const tags = ["Approver verification links"];
const TokenParam = z.object({
  token: z
    .string()
    .min(1)
    .max(4096)
    .openapi({ param: { name: "token", in: "path" }, description: "The signed verification token from the email" }),
});
const html = (description: string) => ({ description, content: { "text/html": { schema: z.string() } } });
const errorPages = {
  404: html("Not a valid verification link (bad signature, another audience such as an approval link or API token, unknown enrolment)"),
  409: html("Already confirmed, replaced by a newer enrolment, or the approver was removed"),
  410: html("The link has expired (enrol again for a new one)"),
};

export const openVerification = createRoute({
  method: "get",
  path: "/verify/{token}",
  tags,
  summary: "The enrolment confirmation page: who, which address, which roles; a Confirm button",
  description: "No bearer token: the signed link is the credential. Changes nothing (mail scanners open links). Sent with Referrer-Policy: no-referrer.",
  request: { params: TokenParam },
  responses: { 200: html("The page"), ...errorPages },
});

export const confirmVerification = createRoute({
  method: "post",
  path: "/verify/{token}",
  tags,
  summary: "Confirm the enrolment (form post), once",
  description:
    "Puts the enrolment's email and roles in force: the approver becomes `active` (one an admin suspended stays `suspended`). Single use, expiring; " +
    "a newer enrolment of the same person makes this link stop working.",
  request: { params: TokenParam },
  responses: { 200: html("Confirmed"), ...errorPages },
});
