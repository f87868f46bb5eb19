/**
 * Approval requests of a step: one signed link per active enrolled approver of the step's role (never
 * someone who created, uploaded to or submitted the batch, never someone who already decided on it),
 * stored as a token hash with the enrolment it was sent under, then emailed. Every request and every
 * email outcome is audited.
 */
import { appendAudit, type AuditInput } from "../audit/audit";
import type { BatchRow } from "../batches/batch-state";
import { sendEmailBatch, MAX_BATCH, type OutgoingEmail } from "../channels/email";
import { sha256Hex } from "../core/crypto";
import { isGuardFailure, requireChanged } from "../core/guard";
import { newId } from "../core/ids";
import type { Env } from "../env";
import { enrolledFor } from "../approvers/eligibility";
import { linkTtlMs } from "./config";
import { approvalRequestEmail } from "./emails";
import type { FlowStep } from "./policy";
import { batchShapers } from "./shapers";
import { flowSteps, insertRequests, listDecisions, recordEmailResult, supersedeRequest, type FlowRow, type RequestRow } from "./store";
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

export type StepApprover = { sub: string; email: string; enrolmentId: string | null };

/** Active enrolled approvers who may approve `step` of this batch (never one who shaped it, never one who decided). */
export async function stepApprovers(d1: D1Database, batch: BatchRow, flow: FlowRow, step: FlowStep): Promise<StepApprover[]> {
  const [enrolled, shapers, decisions] = await Promise.all([enrolledFor(d1, batch.org, step.role), batchShapers(d1, batch, flow), listDecisions(d1, batch.id)]);
  const decided = new Set(decisions.map((d) => d.approverSub));
  return enrolled.filter((a) => !shapers.has(a.sub) && !decided.has(a.sub)).map((a) => ({ sub: a.sub, email: a.email, enrolmentId: a.enrolmentId }));
}

async function sign(ctx: IssueContext, step: FlowStep, approver: StepApprover): Promise<Issued> {
  const now = Date.now();
  const expiresAt = now + linkTtlMs(ctx.env);
  const id = newId("apr");
  const token = await signApprovalToken(
    ctx.env,
    { sub: approver.sub, org: ctx.batch.org, bat: ctx.batch.id, stp: step.index, bh: ctx.flow.contentHash, jti: id },
    expiresAt,
  );
  const row: RequestRow = {
    id,
    org: ctx.batch.org,
    batchId: ctx.batch.id,
    step: step.index,
    approverSub: approver.sub,
    approverEmail: approver.email,
    enrolmentId: approver.enrolmentId,
    tokenHash: await sha256Hex(token),
    status: "pending",
    expiresAt: new Date(expiresAt).toISOString(),
    emailStatus: "sending",
    emailMessageId: null,
    emailError: null,
    openedAt: null,
    usedAt: null,
    createdAt: new Date(now).toISOString(),
  };
  return { row, link: `${ctx.origin}/approve/${token}` };
}

/** Creates and emails the requests of the flow's current step. */
export async function issueStepRequests(ctx: IssueContext): Promise<void> {
  const { env, batch, flow, requestId } = ctx;
  const step = flowSteps(flow)[flow.currentStep]!;
  const approvers = await stepApprovers(env.DB, batch, flow, step);
  if (approvers.length === 0) {
    const base = { actor: APPROVALS_ACTOR, entityType: "batch", entityId: batch.id, requestId };
    await appendAudit(env.DB, batch.org, [
      {
        ...base,
        action: "approval.no_approvers",
        after: {
          step: step.index,
          role: step.role,
          note: "No active enrolled approver with this role (who did not shape the batch) can take this step by email; approve through the API",
        },
      },
    ]);
    return;
  }
  try {
    await issueRequests(ctx, approvers, { action: "approval.requested", actor: APPROVALS_ACTOR });
  } catch (err) {
    // The flow closed or moved on since it was read (a cancel right after submit): nobody to ask.
    if (!isGuardFailure(err)) throw err;
  }
}

export interface IssueOptions {
  action: "approval.requested" | "approval.links_resent" | "approval.link_renewed";
  actor: string;
  /** Pending requests the new ones replace: each is superseded in the same transaction, and only if it is still pending. */
  replaces?: RequestRow[];
}

/**
 * Signs, stores and emails new requests of the flow's current step for `approvers`. The store is one
 * transaction that also requires the flow to be open at that step and every replaced request to be
 * still pending, so two concurrent re-sends cannot both replace one link (the second fails whole,
 * with a guard failure, before any email). Returns the new requests as stored after their emails.
 */
export async function issueRequests(ctx: IssueContext, approvers: StepApprover[], opts: IssueOptions): Promise<RequestRow[]> {
  const { env, batch, flow, requestId } = ctx;
  const steps = flowSteps(flow);
  const step = steps[flow.currentStep]!;
  const issued = await Promise.all(approvers.map((a) => sign(ctx, step, a)));
  const replaces = opts.replaces ?? [];
  const guards = [
    env.DB.prepare("UPDATE approval_flows SET updated_at = updated_at WHERE batch_id = ?1 AND state = 'open' AND current_step = ?2").bind(batch.id, step.index),
    requireChanged(env.DB),
    ...replaces.flatMap((r) => supersedeRequest(env.DB, r.id)),
  ];
  await appendAudit(
    env.DB,
    batch.org,
    [
      {
        actor: opts.actor,
        entityType: "batch",
        entityId: batch.id,
        requestId,
        action: opts.action,
        after: {
          step: step.index,
          role: step.role,
          quorum: step.quorum,
          requests: issued.map((i) => ({ id: i.row.id, approver: i.row.approverSub, enrolment_id: i.row.enrolmentId, expires_at: i.row.expiresAt })),
          ...(replaces.length ? { replaces: replaces.map((r) => r.id) } : {}),
        },
      },
    ],
    [
      ...guards,
      insertRequests(
        env.DB,
        issued.map((i) => i.row),
      ),
    ],
  );
  return emailRequests(ctx, steps, step, issued);
}

async function emailRequests(ctx: IssueContext, steps: FlowStep[], step: FlowStep, issued: Issued[]): Promise<RequestRow[]> {
  const { env, batch } = ctx;
  const summary = await batchSummary(env, batch, steps, step);
  const sent: RequestRow[] = [];
  for (let i = 0; i < issued.length; i += MAX_BATCH) {
    const chunk = issued.slice(i, i + MAX_BATCH);
    const emails: OutgoingEmail[] = await Promise.all(
      chunk.map(async ({ row, link }) => ({
        org: batch.org,
        to: row.approverEmail,
        links: [link],
        idempotencyKey: `approval:${row.id}`,
        tags: [{ name: "category", value: "approval" }],
        ...(await approvalRequestEmail(summary, link, row.expiresAt)),
      })),
    );
    // Keyed by the chunk's first request id (new on every issue), so a later re-send is never
    // mistaken by the provider for a retry of an earlier call.
    const results = await sendEmailBatch(env, emails, `approval:${batch.id}:${chunk[0]!.row.id}`);
    const events: AuditInput[] = chunk.map(({ row }, k) => {
      const r = results[k]!;
      return {
        actor: APPROVALS_ACTOR,
        entityType: "batch",
        entityId: batch.id,
        requestId: ctx.requestId,
        action: r.ok ? "approval.email_sent" : "approval.email_failed",
        after: {
          request_id: row.id,
          approver: row.approverSub,
          to: row.approverEmail,
          step: step.index,
          ...(r.ok ? { provider_message_id: r.providerMessageId } : { error_class: r.errorClass, error: r.detail }),
        },
      };
    });
    await appendAudit(
      env.DB,
      batch.org,
      events,
      chunk.map(({ row }, k) => recordEmailResult(env.DB, row.id, results[k]!)),
    );
    chunk.forEach(({ row }, k) => {
      const r = results[k]!;
      sent.push({ ...row, emailStatus: r.ok ? "sent" : "failed", emailMessageId: r.ok ? r.providerMessageId : null, emailError: r.ok ? null : r.detail });
    });
  }
  return sent;
}
