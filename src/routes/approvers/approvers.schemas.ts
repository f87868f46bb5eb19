/** Request and response schemas of the approver routes. */
import { z } from "@hono/zod-openapi";
import { APPROVAL_ROLES } from "../../approvers/approvers.store";

const Role = z.enum(APPROVAL_ROLES);

export const EnrolBody = z
  .strictObject({
    email: z.email().max(254).openapi({ example: "fran@example.com", description: "Where the verification link (and later the approval emails) go" }),
  })
  .openapi("EnrolApprover", { description: "Only the address: `sub` and roles come from the caller's token, never from the body" });

export const ApproverSchema = z
  .object({
    sub: z.string().openapi({ description: "The person's token `sub`" }),
    email: z
      .email()
      .openapi({ description: "The confirmed address approval emails go to (for a first enrolment not yet confirmed: the address awaiting confirmation)" }),
    roles: z.array(Role).openapi({ description: "Approval roles, taken from the person's token when they enrolled" }),
    status: z.enum(["pending", "active", "suspended"]).openapi({
      description: "pending: address not confirmed yet; active: gets approval links; suspended: by an admin, gets no links and their links do not work",
    }),
    enrolment_id: z
      .string()
      .nullable()
      .openapi({ description: "The confirmed enrolment in force (approval links and link decisions record it); null until the first confirmation" }),
    version: z.number().int().openapi({ description: "Bumped by every change of the approver" }),
    enrolled_at: z.string().openapi({ description: "When the enrolment in force (or awaiting its first confirmation) was made" }),
    verified_at: z.string().nullable(),
    updated_at: z.string(),
    pending_enrolment: z
      .object({ id: z.string(), email: z.email(), roles: z.array(Role), enrolled_at: z.string(), expires_at: z.string() })
      .nullable()
      .openapi({ description: "An enrolment awaiting confirmation; for a confirmed approver it takes effect (email and roles) only when confirmed" }),
  })
  .openapi("Approver");

export const EnrolResultSchema = ApproverSchema.extend({
  verification_email_status: z.enum(["sent", "failed"]).openapi({ description: "Whether the verification email went out (failed: enrol again later)" }),
}).openapi("EnrolResult");

export const SubParam = z.object({
  sub: z
    .string()
    .min(1)
    .max(200)
    .openapi({ param: { name: "sub", in: "path" }, example: "fran", description: "The approver's token `sub`" }),
});
