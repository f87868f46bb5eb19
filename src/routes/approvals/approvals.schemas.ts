/** Request and response schemas of the approval routes. */
import { z } from "@hono/zod-openapi";
import { BATCH_STATUSES } from "../../batches/batch-state";
import { ROLES } from "../../env";
import { ApprovalPolicySchema } from "../../settings/settings.schema";

export const DecisionBody = z
  .strictObject({
    decision: z.enum(["approve", "reject"]),
    comment: z
      .string()
      .trim()
      .max(2000)
      .nullish()
      .openapi({ description: "Shown in the approval trail and, on rejection, to the batch's creator; null or left out for none" }),
  })
  .openapi("ApprovalDecisionInput");

const Decision = z.object({
  id: z.string(),
  approver_sub: z.string(),
  decision: z.enum(["approve", "reject"]),
  comment: z.string().nullable(),
  via: z.enum(["link", "api"]),
  request_id: z.string().nullable(),
  decided_at: z.string(),
});

const Request = z.object({
  id: z.string(),
  approver_sub: z.string(),
  approver_email: z.string(),
  enrolment_id: z
    .string()
    .nullable()
    .openapi({ description: "The approver's confirmed enrolment the link was sent under (GET /v1/approvers); a link decision needs it still in force" }),
  status: z.enum(["pending", "used", "superseded"]),
  email_status: z.enum(["sending", "sent", "failed"]),
  email_error: z.string().nullable(),
  created_at: z.string(),
  expires_at: z.string(),
  opened_at: z.string().nullable().openapi({ description: "First time the link was opened (mail scanners open links too)" }),
  used_at: z.string().nullable(),
});

const Step = z.object({
  index: z.number().int(),
  role: z.enum(ROLES),
  quorum: z.number().int(),
  min_total: z.number().int().nullable(),
  status: z.enum(["waiting", "pending", "approved", "rejected", "closed", "skipped"]),
  approvals: z.number().int(),
  decisions: z.array(Decision),
  requests: z.array(Request),
});

export const ApprovalsSchema = z
  .object({
    batch_id: z.string(),
    status: z.enum(BATCH_STATUSES),
    submission: z
      .object({
        state: z.enum(["open", "approved", "released", "rejected", "cancelled", "expired"]),
        current_step: z.number().int(),
        submitted_by: z.string(),
        submitted_at: z.string(),
        closed_at: z.string().nullable(),
        content_hash: z.string().openapi({ description: "SHA-256 of the batch's metadata and recipients at submission; approvals are bound to it" }),
        auto_release: z.boolean(),
        release_at: z.string().nullable(),
        policy: ApprovalPolicySchema.openapi({ description: "The org's policy when the batch was submitted (later changes do not apply)" }),
        hold: z.object({ id: z.string(), amount: z.number().int(), expires_at: z.string(), released_at: z.string().nullable() }),
      })
      .nullable()
      .openapi({ description: "Null until the batch is submitted" }),
    steps: z.array(Step),
    trail: z.array(z.object({ action: z.string(), actor: z.string(), at: z.string(), details: z.record(z.string(), z.unknown()).nullable() })),
  })
  .openapi("BatchApprovals");

export const DecisionResultSchema = ApprovalsSchema.extend({
  outcome: z.enum(["recorded", "step_completed", "approved", "rejected"]).openapi({
    description: "recorded: the step needs more approvals; step_completed: the next step's approvers were asked; approved / rejected: the batch's new status",
  }),
}).openapi("ApprovalDecisionResult");

export const ResendBody = z
  .strictObject({
    approver_sub: z.string().min(1).max(200).optional().openapi({
      description:
        "Only this approver (an active enrolled approver's `sub`, GET /v1/approvers); default: every approver of the current step who has yet to decide",
    }),
  })
  .openapi("ApprovalResendInput");

export const ResendResultSchema = ApprovalsSchema.extend({
  resent: z
    .array(
      z.object({
        request_id: z.string(),
        approver_sub: z.string(),
        approver_email: z.string(),
        email_status: z.enum(["sending", "sent", "failed"]),
        email_error: z.string().nullable(),
        expires_at: z.string(),
      }),
    )
    .openapi({ description: "The new links, one per approver; each approver's earlier pending link now says it was replaced" }),
  skipped: z
    .array(z.object({ approver_sub: z.string(), reason: z.enum(["recently_sent"]), retry_after_seconds: z.number().int() }))
    .openapi({ description: "Approvers sent a link less than 10 minutes ago whose email did not fail" }),
}).openapi("ApprovalResendResult");
