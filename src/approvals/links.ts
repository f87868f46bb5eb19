/**
 * Approval links: the signed token is the credential. Opening a link never changes the batch or
 * the link (mail scanners open links); it only records, once, that the link was first opened.
 * Posting the form decides through the same operation as the API.
 */
import { appendAudit } from "../audit/audit";
import { findBatch } from "../batches/batches.service";
import type { BatchRow } from "../batches/batch-state";
import { sha256Hex } from "../core/crypto";
import { AppError } from "../core/errors";
import { isGuardFailure } from "../core/guard";
import type { Env } from "../env";
import type { Outcome } from "./decide";
import { assertLinkApprover } from "../approvers/eligibility";
import { assertLinkUsable } from "./link-state";
import { decide } from "./service";
import { findFlow, findRequest, flowSteps, markOpened, type FlowRow, type RequestRow } from "./store";
import { batchSummary, type BatchSummary } from "./summary";
import { verifyApprovalToken, type ApprovalClaims } from "./tokens";

export interface ResolvedLink {
  claims: ApprovalClaims;
  request: RequestRow;
  batch: BatchRow;
  flow: FlowRow;
}

const invalid = () => new AppError("approval_link_invalid", "This is not a valid approval link.");

/**
 * The link's request, batch and flow; the token must match the stored request in every claim and in
 * its hash. An expired token still loads, so the page can say what matters more (already decided,
 * no longer needed) or offer a new link; `assertLinkUsable` refuses it.
 */
export async function loadLink(env: Env, token: string): Promise<ResolvedLink> {
  const claims = await verifyApprovalToken(env, token, { allowExpired: true });
  const request = await findRequest(env.DB, claims.org, claims.jti);
  if (!request || request.batchId !== claims.bat || request.approverSub !== claims.sub || request.step !== claims.stp) throw invalid();
  if (request.tokenHash !== (await sha256Hex(token))) throw invalid();
  const [batch, flow] = await Promise.all([findBatch(env.DB, claims.org, claims.bat), findFlow(env.DB, claims.org, claims.bat)]);
  if (!batch || !flow) throw invalid();
  return { claims, request, batch, flow };
}

/** A link that can decide now: usable, and its approver still active and enrolled for the step under the same enrolment. */
async function resolveLink(env: Env, token: string): Promise<ResolvedLink> {
  const link = await loadLink(env, token);
  await assertLinkUsable(env.DB, link.request, link.batch, link.flow, link.claims.bh);
  const step = flowSteps(link.flow)[link.request.step]!;
  await assertLinkApprover(env.DB, link.batch.org, link.request.approverSub, step.role, link.request.enrolmentId);
  return link;
}

export interface LinkPage {
  summary: BatchSummary;
  approver: string;
  expiresAt: string;
}

/** The page behind a link. `record` (GET, not HEAD) audits the first opening; nothing else is written. */
export async function openLink(env: Env, token: string, opts: { record: boolean; userAgent?: string }): Promise<LinkPage> {
  const link = await resolveLink(env, token);
  if (opts.record && !link.request.openedAt) await recordFirstOpen(env, link, opts.userAgent);
  const steps = flowSteps(link.flow);
  const summary = await batchSummary(env, link.batch, steps, steps[link.request.step]!);
  return { summary, approver: link.request.approverSub, expiresAt: link.request.expiresAt };
}

async function recordFirstOpen(env: Env, link: ResolvedLink, userAgent?: string): Promise<void> {
  const { request } = link;
  const event = {
    actor: request.approverSub,
    action: "approval.link_opened",
    entityType: "batch",
    entityId: request.batchId,
    after: { request_id: request.id, step: request.step, user_agent: userAgent?.slice(0, 300) ?? null, note: "first opening; mail scanners open links too" },
  };
  try {
    await appendAudit(env.DB, request.org, [event], markOpened(env.DB, request.id, new Date().toISOString()));
  } catch (err) {
    if (!isGuardFailure(err)) throw err; // opened concurrently: recorded once already
  }
}

export interface LinkResult {
  outcome: Outcome;
  batchName: string;
  step: number;
  steps: number;
  quorum: number;
  approvals: number;
}

export async function decideByLink(
  env: Env,
  token: string,
  form: { decision: "approve" | "reject"; comment: string | null },
  origin: string,
  requestId?: string,
): Promise<LinkResult> {
  const { claims, request, batch } = await resolveLink(env, token);
  const plan = await decide(
    env,
    {
      org: claims.org,
      batchId: batch.id,
      decider: { sub: claims.sub },
      decision: form.decision,
      comment: form.comment,
      link: { requestId: request.id, batchHash: claims.bh, enrolmentId: request.enrolmentId },
      requestId,
    },
    origin,
  );
  return {
    outcome: plan.outcome,
    batchName: batch.name,
    step: plan.step.index + 1,
    steps: plan.steps.length,
    quorum: plan.step.quorum,
    approvals: plan.approvalsBefore + (form.decision === "approve" ? 1 : 0),
  };
}
