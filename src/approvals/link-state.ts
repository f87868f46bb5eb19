/**
 * Whether an approval link can still be used, and if not, why, in words an approver understands:
 * already used, no longer needed (and why), the batch changed since the email, or expired (the one
 * case a new link mends). Both subjects: a batch's links and a campaign day's links.
 */
import type { BatchRow } from "../batches/batch-state";
import { AppError } from "../core/errors";
import type { CampaignLinkRow } from "./campaign-link-store";
import { batchFingerprint } from "./content-hash";
import { listDecisions, listRequests, type DecisionRow, type FlowRow, type RequestRow } from "./store";

/** 2026-11-23 09:20 UTC: how the approval pages and messages show a moment. */
export const utcMinute = (iso: string) => `${iso.slice(0, 16).replace("T", " ")} UTC`;
const verb = (d: DecisionRow) => (d.decision === "approve" ? "approved" : "rejected");

const FLOW_ENDINGS: Partial<Record<FlowRow["state"], string>> = {
  approved: "The batch has already been approved.",
  released: "The batch has already been approved and released.",
  rejected: "The batch was rejected.",
  cancelled: "The batch was cancelled.",
  expired: "The batch expired before it was approved.",
};

async function supersededReason(d1: D1Database, request: RequestRow, flow: FlowRow): Promise<string> {
  const own = (await listDecisions(d1, request.batchId)).find((d) => d.approverSub === request.approverSub);
  if (own) return `You already ${verb(own)} this batch on ${utcMinute(own.createdAt)} (${own.via === "api" ? "through the API" : "with another link"}).`;
  if (flow.state !== "open") return FLOW_ENDINGS[flow.state] ?? "The batch no longer awaits approval.";
  if (request.step === flow.currentStep) {
    const newer = (await listRequests(d1, request.batchId)).filter((r) => r.approverSub === request.approverSub && r.createdAt > request.createdAt).at(-1);
    if (newer) return `A new link was emailed to you on ${utcMinute(newer.createdAt)}; use the newest email.`;
  }
  return `Step ${request.step + 1} was completed by other approvers.`;
}

/** Throws the reason this link cannot decide now; returns when it can. */
export async function assertLinkUsable(
  d1: D1Database,
  request: RequestRow,
  batch: BatchRow,
  flow: FlowRow,
  tokenBatchHash: string,
  opts: { ignoreExpiry?: boolean } = {},
): Promise<void> {
  if (request.status === "used") {
    const used = (await listDecisions(d1, request.batchId)).find((d) => d.requestId === request.id);
    const detail = used ? `You already ${verb(used)} this batch with this link on ${utcMinute(used.createdAt)}.` : "This link has already been used.";
    throw new AppError("approval_link_used", `${detail} Each approval link works once.`);
  }
  const stale = request.status === "superseded" || flow.state !== "open" || batch.status !== "submitted" || request.step !== flow.currentStep;
  if (stale) throw new AppError("approval_link_superseded", `This link is no longer needed. ${await supersededReason(d1, request, flow)}`);
  if (tokenBatchHash !== flow.contentHash || (await batchFingerprint(batch)) !== flow.fingerprint) {
    throw new AppError("batch_changed", "The batch changed after this link was sent, so this link cannot approve it.");
  }
  // Last, so that an expired link is the only thing wrong: a new link would work (renew.ts).
  if (!opts.ignoreExpiry && isExpired(request)) {
    throw new AppError("approval_link_expired", `This approval link expired on ${utcMinute(request.expiresAt)}. You can have a new one emailed to you.`, {
      renewable: true,
    });
  }
}

export const isExpired = (request: RequestRow, now = new Date()) => request.expiresAt <= now.toISOString();

/** Where a campaign day's request stands, as a campaign link needs it (src/campaigns/approval-state.ts). */
export interface DayState {
  status: "open" | "approved" | "rejected";
  round: number;
  /** The policy index of the step awaiting approvals now. */
  currentStep: number;
  /** This approver's decision in the link's round, if any. */
  own: { decision: "approve" | "reject"; createdAt: string; via: "link" | "api" } | null;
  /** A newer link of this approver for the current round and step. */
  newerLinkAt: string | null;
}

/**
 * Throws the reason a campaign day's link cannot decide now; returns when it can. New rewards
 * after the link was sent do not supersede it: the page shows the list as it is when opened (the
 * decision is refused only if the list changes between the page and the form post).
 */
export function assertCampaignLinkUsable(link: CampaignLinkRow, day: DayState, opts: { ignoreExpiry?: boolean } = {}): void {
  const dayVerb = (d: { decision: string }) => (d.decision === "approve" ? "approved" : "rejected");
  if (link.status === "used") {
    const detail =
      day.own && link.usedAt
        ? `You already ${dayVerb(day.own)} these rewards with this link on ${utcMinute(link.usedAt)}.`
        : "This link has already been used.";
    throw new AppError("approval_link_used", `${detail} Each approval link works once.`);
  }
  const stale = link.status === "superseded" || day.status !== "open" || link.round !== day.round || link.step !== day.currentStep;
  if (stale) {
    let reason: string;
    if (link.round === day.round && day.own)
      reason = `You already ${dayVerb(day.own)} these rewards on ${utcMinute(day.own.createdAt)} (${day.own.via === "api" ? "through the API" : "with another link"}).`;
    else if (day.status !== "open") reason = `The rewards of ${link.day} were already ${day.status}.`;
    else if (link.round !== day.round) reason = "New rewards arrived after someone approved, so the approvals started again; use the newest email.";
    else if (day.newerLinkAt) reason = `A new link was emailed to you on ${utcMinute(day.newerLinkAt)}; use the newest email.`;
    else reason = "The step this link was for was completed by other approvers, or the day's total changed which steps it needs.";
    throw new AppError("approval_link_superseded", `This link is no longer needed. ${reason}`);
  }
  if (!opts.ignoreExpiry && link.expiresAt <= new Date().toISOString()) {
    throw new AppError("approval_link_expired", `This approval link expired on ${utcMinute(link.expiresAt)}. You can have a new one emailed to you.`, {
      renewable: true,
    });
  }
}
