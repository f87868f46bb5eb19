/**
 * New approval links for a batch that still awaits approval, so an expired or lost email never
 * leaves a batch stuck until its hold expires:
 *   - the approver, from an expired link's page: the new link goes to the approver's confirmed
 *     enrolled address, never to the page, so a forwarded old link gives its holder nothing;
 *   - an operator, integrator (the roles that submit) or admin, through the API: to every approver of the
 *     current step who has yet to decide, or to one. Throttled per approver.
 * Either way the old pending link is superseded in the same transaction that stores the new one.
 */
import { requireBatch } from "../batches/batches.service";
import type { BatchRow } from "../batches/batch-state";
import { AppError } from "../core/errors";
import { isGuardFailure } from "../core/guard";
import type { Auth, Env } from "../env";
import { assertLinkUsable, isExpired, utcMinute } from "./link-state";
import { loadLink } from "./links";
import type { FlowStep } from "./policy";
import { issueRequests, stepApprovers, type IssueContext, type IssueOptions, type StepApprover } from "./requests";
import { findFlow, flowSteps, listRequests, type FlowRow, type RequestRow } from "./store";
import { approvalsView } from "./view";

/** At most one re-send per approver in this interval, unless the last email failed. */
export const RESEND_INTERVAL_MS = 10 * 60_000;

/** f•••@example.com: enough for an approver to recognise their address, not enough to harvest it. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf("@");
  return at <= 0 ? "your address on file" : `${email[0]}•••${email.slice(at)}`;
}

async function issue(ctx: IssueContext, approvers: StepApprover[], opts: IssueOptions, raced: AppError): Promise<RequestRow[]> {
  try {
    return await issueRequests(ctx, approvers, opts);
  } catch (err) {
    // A replaced link was replaced meanwhile, or the step moved on: nothing was stored or sent.
    if (isGuardFailure(err)) throw raced;
    throw err;
  }
}

export interface RenewResult {
  sentTo: string;
  expiresAt: string;
  emailed: boolean;
  batchName: string;
}

/** An expired link's approver asks for a new one (POST /approve/{token}/renew). */
export async function renewByLink(env: Env, token: string, origin: string, requestId?: string): Promise<RenewResult> {
  const { claims, request, batch, flow } = await loadLink(env, token);
  // Everything but the expiry must hold: a new link to a decided, replaced or changed batch would not work either.
  await assertLinkUsable(env.DB, request, batch, flow, claims.bh, { ignoreExpiry: true });
  if (!isExpired(request)) throw new AppError("approval_link_active", `This link still works until ${utcMinute(request.expiresAt)}: open it again to decide.`);
  const step = flowSteps(flow)[request.step]!;
  const me = (await stepApprovers(env.DB, batch, flow, step)).find((a) => a.sub === request.approverSub);
  if (!me)
    throw new AppError("not_an_approver", `You are no longer an approver of step ${step.index + 1} (${step.role}) of this batch, so no new link was sent.`);
  const raced = new AppError("approval_link_superseded", "This link has just been replaced by a new one: look for the newest approval email.");
  const [renewed] = await issue({ env, batch, flow, origin, requestId }, [me], { action: "approval.link_renewed", actor: me.sub, replaces: [request] }, raced);
  return { sentTo: maskEmail(renewed!.approverEmail), expiresAt: renewed!.expiresAt, emailed: renewed!.emailStatus === "sent", batchName: batch.name };
}

interface Target {
  approver: StepApprover;
  pending: RequestRow[];
  /** Seconds until this approver may be sent another link; 0 = now. */
  wait: number;
}

function target(approver: StepApprover, requests: RequestRow[], now: number): Target {
  const own = requests.filter((r) => r.approverSub === approver.sub);
  const pending = own.filter((r) => r.status === "pending");
  const last = own.at(-1);
  const recent = last && last.status === "pending" && last.emailStatus !== "failed" && !isExpired(last, new Date(now));
  const next = recent ? Date.parse(last.createdAt) + RESEND_INTERVAL_MS : 0;
  return { approver, pending, wait: next > now ? Math.ceil((next - now) / 1000) : 0 };
}

async function awaitingApproval(env: Env, org: string, batchId: string): Promise<{ batch: BatchRow; flow: FlowRow; step: FlowStep }> {
  const batch = await requireBatch(env.DB, org, batchId);
  const flow = await findFlow(env.DB, org, batchId);
  if (flow?.state !== "open" || batch.status !== "submitted") {
    throw new AppError("invalid_state_transition", `Approval links are sent only while a batch awaits approval; batch ${batchId} is ${batch.status}`);
  }
  return { batch, flow, step: flowSteps(flow)[flow.currentStep]! };
}

/** POST /v1/batches/{id}/approvals/resend: new links to the current step's approvers who have yet to decide (or to one). */
export async function resendLinks(env: Env, auth: Auth, batchId: string, body: { approver_sub?: string }, origin: string, requestId?: string) {
  const { batch, flow, step } = await awaitingApproval(env, auth.org, batchId);
  const label = `step ${step.index + 1} (${step.role})`;
  let approvers = await stepApprovers(env.DB, batch, flow, step);
  if (body.approver_sub !== undefined) {
    approvers = approvers.filter((a) => a.sub === body.approver_sub);
    if (approvers.length === 0) {
      throw new AppError("unprocessable", `${body.approver_sub} cannot take ${label} of this batch`, {
        errors: [
          {
            pointer: "/approver_sub",
            code: "not_an_approver",
            detail: `Not an active enrolled approver with the role ${step.role}, someone who created, uploaded to or submitted the batch, or has already decided`,
          },
        ],
      });
    }
  }
  if (approvers.length === 0) {
    throw new AppError(
      "unprocessable",
      `No active enrolled approver can take ${label} by email; a ${step.role} can enrol (POST /v1/approvers/enrol), or decide through the API`,
    );
  }
  const now = Date.now();
  const requests = (await listRequests(env.DB, batch.id)).filter((r) => r.step === step.index);
  const targets = approvers.map((a) => target(a, requests, now));
  const due = targets.filter((t) => t.wait === 0);
  if (due.length === 0) {
    const wait = Math.min(...targets.map((t) => t.wait));
    throw new AppError("rate_limited", `A link was sent less than ${RESEND_INTERVAL_MS / 60_000} minutes ago to ${approvers.map((a) => a.sub).join(", ")}`, {
      retry_after_seconds: wait,
    });
  }
  const raced = new AppError(
    "conflict",
    `The approval links of batch ${batch.id} changed while re-sending (another re-send, or a decision); nothing was sent. Read the approvals and retry if still needed.`,
  );
  const resent = await issue(
    { env, batch, flow, origin, requestId },
    due.map((t) => t.approver),
    { action: "approval.links_resent", actor: auth.sub, replaces: due.flatMap((t) => t.pending) },
    raced,
  );
  return {
    ...(await approvalsView(env, auth.org, batch.id)),
    resent: resent.map((r) => ({
      request_id: r.id,
      approver_sub: r.approverSub,
      approver_email: r.approverEmail,
      email_status: r.emailStatus,
      email_error: r.emailError,
      expires_at: r.expiresAt,
    })),
    skipped: targets.filter((t) => t.wait > 0).map((t) => ({ approver_sub: t.approver.sub, reason: "recently_sent" as const, retry_after_seconds: t.wait })),
  };
}
