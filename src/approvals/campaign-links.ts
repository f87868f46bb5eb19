/**
 * Links of the second approval subject, a campaign's rewards pending on one UTC day. The signed
 * token is the credential, as for a batch: opening the page changes nothing but the first-opening
 * record, and posting the form decides through the same operation as the API
 * (`decideCampaignDay`, src/campaigns/approvals.ts).
 */
import { appendAudit } from "../audit/audit";
import { assertLinkApprover } from "../approvers/eligibility";
import { assertDayLinkUsable, daySummary, decideCampaignDay, readDay, renewDayLink, type DayOutcome } from "../campaigns/approvals";
import { findCampaign } from "../campaigns/campaigns.service";
import type { CampaignRow } from "../campaigns/campaign-state";
import { sha256Hex } from "../core/crypto";
import { AppError } from "../core/errors";
import { isGuardFailure } from "../core/guard";
import { formatMoneyCode } from "../core/money";
import type { Env } from "../env";
import { findCampaignLink, markCampaignLinkOpened, type CampaignLinkRow } from "./campaign-link-store";
import { maskEmail, type RenewResult } from "./resend";
import { CAMPAIGN_PAGE_REWARDS, type CampaignDaySummary } from "./summary";
import type { CampaignDayClaims } from "./tokens";

const invalid = () => new AppError("approval_link_invalid", "This is not a valid approval link.");

/** The link's stored row and campaign; the token must match the row in every claim and in its hash. */
async function loadCampaignLink(env: Env, token: string, claims: CampaignDayClaims): Promise<{ link: CampaignLinkRow; campaign: CampaignRow }> {
  const link = await findCampaignLink(env.DB, claims.org, claims.jti);
  if (
    !link ||
    link.campaignId !== claims.cmp ||
    link.day !== claims.day ||
    link.round !== claims.rnd ||
    link.step !== claims.stp ||
    link.approverSub !== claims.sub ||
    link.tokenHash !== (await sha256Hex(token))
  ) {
    throw invalid();
  }
  const campaign = await findCampaign(env.DB, claims.org, claims.cmp);
  if (!campaign) throw invalid();
  return { link, campaign };
}

export interface CampaignLinkPage {
  summary: CampaignDaySummary;
  approver: string;
  expiresAt: string;
}

/** The page behind a campaign day's link: the day's pending rewards as they are now. `record` audits the first opening. */
export async function openCampaignDayLink(
  env: Env,
  token: string,
  claims: CampaignDayClaims,
  opts: { record: boolean; userAgent?: string },
): Promise<CampaignLinkPage> {
  const { link, campaign } = await loadCampaignLink(env, token, claims);
  const day = await readDay(env.DB, campaign, link.day, CAMPAIGN_PAGE_REWARDS);
  if (!day) throw invalid();
  await assertDayLinkUsable(env.DB, link, day);
  await assertLinkApprover(env.DB, campaign.org, link.approverSub, link.role, link.enrolmentId);
  if (opts.record && !link.openedAt) {
    const event = {
      actor: link.approverSub,
      action: "campaign.approval_link_opened",
      entityType: "campaign",
      entityId: campaign.id,
      after: {
        link_id: link.id,
        day: link.day,
        round: link.round,
        user_agent: opts.userAgent?.slice(0, 300) ?? null,
        note: "first opening; mail scanners open links too",
      },
    };
    try {
      await appendAudit(env.DB, campaign.org, [event], markCampaignLinkOpened(env.DB, link.id, new Date().toISOString()));
    } catch (err) {
      if (!isGuardFailure(err)) throw err; // opened concurrently: recorded once already
    }
  }
  return { summary: await daySummary(env.DB, campaign, day.content, day.progress, day.row.day), approver: link.approverSub, expiresAt: link.expiresAt };
}

export interface CampaignLinkResult {
  outcome: DayOutcome;
  campaignName: string;
  day: string;
  rewards: number;
  total: string;
  step: number;
  steps: number;
  quorum: number;
  approvals: number;
}

/** Posts the page's form: decides once, for the list the page showed (`fingerprint`). */
export async function decideCampaignDayByLink(
  env: Env,
  token: string,
  claims: CampaignDayClaims,
  form: { decision: "approve" | "reject"; comment: string | null; fingerprint: string | undefined },
  origin: string,
  requestId?: string,
): Promise<CampaignLinkResult> {
  const { link, campaign } = await loadCampaignLink(env, token, claims);
  if (form.fingerprint === undefined) throw new AppError("validation_failed", "Open the approval page again and choose Approve or Reject there.");
  const r = await decideCampaignDay(
    env,
    {
      org: campaign.org,
      campaignId: campaign.id,
      day: link.day,
      decider: { sub: link.approverSub },
      decision: form.decision,
      comment: form.comment,
      link: { id: link.id },
      fingerprint: form.fingerprint,
      requestId,
    },
    origin,
  );
  return {
    outcome: r.outcome,
    campaignName: campaign.name,
    day: r.day,
    rewards: r.rewards,
    total: formatMoneyCode(r.total, campaign.currency),
    step: r.step.number,
    steps: r.step.of,
    quorum: r.step.quorum,
    approvals: r.approvals,
  };
}

/** POST /approve/{token}/renew for a campaign day's expired link: a new link by email to the approver's enrolled address. */
export async function renewCampaignDayByLink(env: Env, token: string, claims: CampaignDayClaims, origin: string, requestId?: string): Promise<RenewResult> {
  const { link, campaign } = await loadCampaignLink(env, token, claims);
  const renewed = await renewDayLink(env, campaign, link, origin, requestId);
  return {
    sentTo: maskEmail(renewed.approverEmail),
    expiresAt: renewed.expiresAt,
    emailed: renewed.emailStatus === "sent",
    batchName: `${campaign.name} (${link.day})`,
  };
}
