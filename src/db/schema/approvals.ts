/** Approval flows, emailed requests (token hashes only) and decisions. */
import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * One approval flow per submitted batch: the policy steps it was submitted under (a later policy
 * change never alters them), the content hash approvers are bound to, the pool hold, and where the
 * flow stands. `exit_actor` / `hold_released_at` let a side exit's hold release be retried with
 * the same arguments until it is done (src/approvals/exit.ts).
 */
export const approvalFlows = sqliteTable(
  "approval_flows",
  {
    batchId: text("batch_id").primaryKey(),
    org: text("org").notNull(),
    policy: text("policy").notNull(),
    steps: text("steps").notNull(),
    currentStep: integer("current_step").notNull().default(0),
    state: text("state", { enum: ["open", "approved", "released", "rejected", "cancelled", "expired"] }).notNull(),
    autoRelease: integer("auto_release", { mode: "boolean" }).notNull(),
    contentHash: text("content_hash").notNull(),
    fingerprint: text("fingerprint").notNull(),
    holdId: text("hold_id").notNull(),
    holdAmount: integer("hold_amount").notNull(),
    holdExpiresAt: text("hold_expires_at").notNull(),
    holdReleasedAt: text("hold_released_at"),
    exitActor: text("exit_actor"),
    submittedBy: text("submitted_by").notNull(),
    submittedAt: text("submitted_at").notNull(),
    closedAt: text("closed_at"),
    updatedAt: text("updated_at").notNull(),
  },
  // approval_flows_org: the summary report's approval times, per org and submission window.
  (t) => [index("approval_flows_state").on(t.state, t.holdExpiresAt), index("approval_flows_org").on(t.org, t.submittedAt)],
);

/**
 * One emailed approval link: approver, batch and step. Only the SHA-256 of the signed token is
 * stored; `status` moves pending → used (its one decision) or pending → superseded, never back.
 */
export const approvalRequests = sqliteTable(
  "approval_requests",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    batchId: text("batch_id").notNull(),
    step: integer("step").notNull(),
    approverSub: text("approver_sub").notNull(),
    approverEmail: text("approver_email").notNull(),
    /** The approver's confirmed enrolment this link was sent under (src/approvers/); a link decision needs it still in force. */
    enrolmentId: text("enrolment_id"),
    tokenHash: text("token_hash").notNull(),
    status: text("status", { enum: ["pending", "used", "superseded"] }).notNull(),
    expiresAt: text("expires_at").notNull(),
    emailStatus: text("email_status", { enum: ["sending", "sent", "failed"] }).notNull(),
    emailMessageId: text("email_message_id"),
    emailError: text("email_error"),
    openedAt: text("opened_at"),
    usedAt: text("used_at"),
    createdAt: text("created_at").notNull(),
  },
  (t) => [
    index("approval_requests_step_approver").on(t.batchId, t.step, t.approverSub),
    // One live link per approver and step: a re-sent or renewed link supersedes the last one (src/approvals/resend.ts).
    uniqueIndex("approval_requests_pending").on(t.batchId, t.step, t.approverSub).where(sql`status = 'pending'`),
    uniqueIndex("approval_requests_token").on(t.tokenHash),
  ],
);

/** Decisions on a batch. UNIQUE(batch_id, approver_sub): a person decides on a batch once, at one step. */
export const approvalDecisions = sqliteTable(
  "approval_decisions",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    batchId: text("batch_id").notNull(),
    step: integer("step").notNull(),
    approverSub: text("approver_sub").notNull(),
    decision: text("decision", { enum: ["approve", "reject"] }).notNull(),
    comment: text("comment"),
    via: text("via", { enum: ["link", "api"] }).notNull(),
    requestId: text("request_id"),
    createdAt: text("created_at").notNull(),
  },
  (t) => [uniqueIndex("approval_decisions_approver").on(t.batchId, t.approverSub), index("approval_decisions_step").on(t.batchId, t.step, t.decision)],
);
