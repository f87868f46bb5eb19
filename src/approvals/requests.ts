/**
 * Approval requests of a step: one signed link per approver of the step's role (never the batch's
 * creator, never someone who already decided on the batch), stored as a token hash, then emailed.
 * Every request and every email outcome is audited.
 */
import { appendAudit, type AuditInput } from "../audit/audit";
import type { BatchRow } from "../batches/batch-state";
import { sendEmailBatch, MAX_BATCH, type OutgoingEmail } from "../channels/email";
import { sha256Hex } from "../core/crypto";
import { newId } from "../core/ids";
import type { Env } from "../env";
import { getSettings } from "../settings/settings.service";
import { linkTtlMs } from "./config";
import { approvalRequestEmail } from "./emails";
import type { FlowStep } from "./policy";
import { flowSteps, insertRequests, listDecisions, recordEmailResult, type FlowRow, type RequestRow } from "./store";
import { batchSummary } from "./summary";
import { signApprovalToken } from "./tokens";

export const APPROVALS_ACTOR = "system:approvals";

export interface IssueContext {
  env: Env;
  batch: BatchRow;
  flow: FlowRow;
  /** Origin of the links, e.g. https://rewards.example.com. */
  origin: string;
  requestId?: string;
}

interface Issued {
  row: RequestRow;
  link: string;
}

/** Approvers listed in the org settings who may approve `step` of this batch. */
async function stepApprovers(d1: D1Database, batch: BatchRow, step: FlowStep) {
  const [settings, decisions] = await Promise.all([getSettings(d1, batch.org), listDecisions(d1, batch.id)]);
  const decided = new Set(decisions.map((d) => d.approverSub));
  return settings.approvers.filter((a) => a.roles.includes(step.role) && a.sub !== batch.createdBy && !decided.has(a.sub));
}

async function sign(ctx: IssueContext, step: FlowStep, approver: { sub: string; email: string }): Promise<Issued> {
  const now = Date.now();
  const expiresAt = now + linkTtlMs(ctx.env);
  const id = newId("apr");
  const token = await signApprovalToken(ctx.env, { sub: approver.sub, org: ctx.batch.org, bat: ctx.batch.id, stp: step.index, bh: ctx.flow.contentHash, jti: id }, expiresAt);
  const row: RequestRow = {
    id, org: ctx.batch.org, batchId: ctx.batch.id, step: step.index, approverSub: approver.sub, approverEmail: approver.email,
    tokenHash: await sha256Hex(token), status: "pending", expiresAt: new Date(expiresAt).toISOString(), emailStatus: "sending",
    emailMessageId: null, emailError: null, openedAt: null, usedAt: null, createdAt: new Date(now).toISOString(),
  };
  return { row, link: `${ctx.origin}/approve/${token}` };
}

/** Creates and emails the requests of the flow's current step. */
export async function issueStepRequests(ctx: IssueContext): Promise<void> {
  const { env, batch, flow, requestId } = ctx;
  const steps = flowSteps(flow);
  const step = steps[flow.currentStep]!;
  const approvers = await stepApprovers(env.DB, batch, step);
  const base = { actor: APPROVALS_ACTOR, entityType: "batch", entityId: batch.id, requestId };
  if (approvers.length === 0) {
    await appendAudit(env.DB, batch.org, [{ ...base, action: "approval.no_approvers", after: { step: step.index, role: step.role, note: "No approver in settings.approvers can take this step by email; approve through the API" } }]);
    return;
  }
  const issued = await Promise.all(approvers.map((a) => sign(ctx, step, a)));
  await appendAudit(
    env.DB,
    batch.org,
    [{ ...base, action: "approval.requested", after: { step: step.index, role: step.role, quorum: step.quorum, requests: issued.map((i) => ({ id: i.row.id, approver: i.row.approverSub, expires_at: i.row.expiresAt })) } }],
    [insertRequests(env.DB, issued.map((i) => i.row))],
  );
  await emailRequests(ctx, steps, step, issued);
}

async function emailRequests(ctx: IssueContext, steps: FlowStep[], step: FlowStep, issued: Issued[]): Promise<void> {
  const { env, batch } = ctx;
  const summary = await batchSummary(env, batch, steps, step);
  for (let i = 0; i < issued.length; i += MAX_BATCH) {
    const chunk = issued.slice(i, i + MAX_BATCH);
    const emails: OutgoingEmail[] = await Promise.all(
      chunk.map(async ({ row, link }) => ({
        org: batch.org, to: row.approverEmail, links: [link], idempotencyKey: `approval:${row.id}`,
        tags: [{ name: "category", value: "approval" }], ...(await approvalRequestEmail(summary, link, row.expiresAt)),
      })),
    );
    const results = await sendEmailBatch(env, emails, `approval:${batch.id}:${step.index}:${i}`);
    const events: AuditInput[] = chunk.map(({ row }, k) => {
      const r = results[k]!;
      return {
        actor: APPROVALS_ACTOR, entityType: "batch", entityId: batch.id, requestId: ctx.requestId,
        action: r.ok ? "approval.email_sent" : "approval.email_failed",
        after: { request_id: row.id, approver: row.approverSub, to: row.approverEmail, step: step.index, ...(r.ok ? { provider_message_id: r.providerMessageId } : { error_class: r.errorClass, error: r.detail }) },
      };
    });
    await appendAudit(env.DB, batch.org, events, chunk.map(({ row }, k) => recordEmailResult(env.DB, row.id, results[k]!)));
  }
}
