/**
 * Approval of campaign rewards at or above `approval.at_or_above`, through the same approval
 * machinery as batches (src/approvals/): the org's policy steps, enrolled approvers, signed
 * single-use links, four-eyes. Such a reward is committed from the budget when its event is
 * evaluated (so the budget can never be promised twice) but gets no delivery: it waits in one
 * request per campaign per UTC day (src/campaigns/approval-state.ts owns its state and rounds).
 *
 * When a day's request opens (or starts a new round) the current step's active enrolled approvers
 * who did not shape the campaign get one email each with a link `<origin>/approve/<token>`
 * (src/approvals/campaign-link-store.ts); later rewards of the day do not send more emails, the
 * link's page shows the list as it is. A decision — by API or by link, the same `decideCampaignDay`
 * — is recorded per step; the last step's last approval approves every reward of the day pending
 * at that moment (deliveries created and queued), any rejection rejects them (value back to the
 * campaign's hold, op id per reward: once).
 */
import { appendAudit, type AuditInput } from "../audit/audit";
import { assertLinkApprover, confirmedEmail, enrolledFor } from "../approvers/eligibility";
import { publicOrigin } from "../approvals/config";
import {
  findCampaignLink,
  issueCampaignDayLinks,
  listCampaignLinks,
  supersedeCampaignLink,
  supersedeCampaignLinks,
  useCampaignLink,
  type CampaignLinkRow,
} from "../approvals/campaign-link-store";
import { assertCampaignLinkUsable } from "../approvals/link-state";
import { CAMPAIGN_PAGE_REWARDS, type CampaignDaySummary } from "../approvals/summary";
import { AppError, notFound } from "../core/errors";
import { isGuardFailure } from "../core/guard";
import { newId } from "../core/ids";
import { formatMoneyCode } from "../core/money";
import { redactTokens } from "../core/redact";
import { createForApprovedRewards } from "../delivery/delivery-state";
import type { Auth, Env, Role } from "../env";
import { refundCampaignReward } from "../pools/campaign-budget";
import { sendMessages, type QueueMessage } from "../queues/messages";
import {
  assertOpen,
  closeDay,
  dayContent,
  daySteps,
  decidePendingRewards,
  findDay,
  insertDayDecision,
  openDay,
  progress,
  requireDayOpen,
  roundDecisions,
  type DayContent,
  type DayDecisionRow,
  type DayRow,
  type Progress,
} from "./approval-state";
import { campaignRef, requireCampaign } from "./campaigns.service";
import type { CampaignRow } from "./campaign-state";

/** Who shaped the campaign: its creator and everyone who edited it. They never decide on its rewards, nor are emailed a link. */
async function campaignShapers(d1: D1Database, c: CampaignRow): Promise<Set<string>> {
  const { results } = await d1
    .prepare("SELECT DISTINCT actor FROM audit_events WHERE org = ? AND entity_id = ? AND action IN ('campaign.created', 'campaign.updated')")
    .bind(c.org, c.id)
    .all<{ actor: string }>();
  return new Set([c.createdBy, ...results.map((r) => r.actor)]);
}

/** What an approver is shown about the day: the email and the link page. */
export async function daySummary(d1: D1Database, c: CampaignRow, content: DayContent, p: Progress, day: string): Promise<CampaignDaySummary> {
  const email = await confirmedEmail(d1, c.org, c.createdBy);
  return {
    campaignId: c.id,
    name: c.name,
    day,
    owner: c.ownerEmail ?? "(none)",
    currency: c.currency,
    count: content.count,
    total: formatMoneyCode(content.total, c.currency),
    creator: email ? `${c.createdBy} (${email})` : c.createdBy,
    fingerprint: content.fingerprint,
    rewards: content.rewards.map((r) => ({
      eventId: r.eventId,
      side: r.side,
      customer: r.externalId ?? "(no external id)",
      amount: formatMoneyCode(r.amount, c.currency),
    })),
    step: { number: p.current.index + 1, of: p.steps.length, role: p.current.role, quorum: p.current.quorum, approvals: p.approvals },
  };
}

/**
 * A pending reward was committed: open the day's request (or its next round) and make sure the
 * current step's approvers have a link. Called after the reward's commit, so a decision never
 * closes a request over a reward it could not see.
 */
export async function openApprovalRequest(env: Env, c: CampaignRow, day: string, requestId?: string): Promise<void> {
  const row = await openDay(env.DB, c.org, c.id, day);
  if (row?.status === "open") await ensureStepLinks(env, c, row, publicOrigin(env), requestId);
}

/**
 * Emails links to the current step's approvers unless the step already has pending links: active
 * approvers enrolled with the step's role, never one who shaped the campaign or decided in this
 * round. Links of earlier rounds are superseded in the same transaction.
 */
async function ensureStepLinks(env: Env, c: CampaignRow, row: DayRow, origin: string, requestId?: string): Promise<void> {
  const day = await readDay(env.DB, c, row, CAMPAIGN_PAGE_REWARDS);
  if (!day || day.content.count === 0) return;
  const { content, decisions, progress: p } = day;
  const links = await listCampaignLinks(env.DB, c.id, row.day, row.round);
  const asked = new Set(links.filter((l) => l.status === "pending" && l.step === p.current.policyIndex).map((l) => l.approverSub));
  if (asked.size > 0) return;
  const approvers = await stepApprovers(env.DB, c, p.current.role, decisions);
  if (approvers.length === 0) return;
  try {
    await issueCampaignDayLinks({
      env,
      org: c.org,
      summary: await daySummary(env.DB, c, content, p, row.day),
      round: row.round,
      step: p.current,
      approvers,
      origin,
      guards: [supersedeCampaignLinks(env.DB, c.id, row.day, { beforeRound: row.round }), ...requireDayOpen(env.DB, row)],
      requestId,
    });
  } catch (err) {
    // The day was decided or moved to a new round meanwhile, or a concurrent request issued the same links.
    if (!isGuardFailure(err) && !String((err as Error)?.message).includes("UNIQUE constraint failed: campaign_approval_links")) throw err;
  }
}

/** Active approvers enrolled with `role` who may decide on the day now: never one who shaped the campaign or decided in the round. */
async function stepApprovers(d1: D1Database, c: CampaignRow, role: string, decisions: DayDecisionRow[]) {
  const shapers = await campaignShapers(d1, c);
  const decided = new Set(decisions.map((d) => d.approverSub));
  return (await enrolledFor(d1, c.org, role))
    .filter((a) => !shapers.has(a.sub) && !decided.has(a.sub))
    .map((a) => ({ sub: a.sub, email: a.email, enrolmentId: a.enrolmentId }));
}

/** A day's request as a decision or a link page needs it: the request, its pending rewards (the first `limit` listed), the round's decisions and progress. */
export interface DayNow {
  row: DayRow;
  content: DayContent;
  decisions: DayDecisionRow[];
  progress: Progress;
}

export async function readDay(d1: D1Database, c: CampaignRow, day: string | DayRow, limit: number): Promise<DayNow | null> {
  const row = typeof day === "string" ? await findDay(d1, c.id, day) : day;
  if (!row) return null;
  const content = await dayContent(d1, c.id, row.day, limit);
  const [steps, decisions] = await Promise.all([daySteps(d1, row, content.total), roundDecisions(d1, row)]);
  return { row, content, decisions, progress: progress(steps, decisions, content.fingerprint) };
}

/** Throws why this link of the day cannot decide now (src/approvals/link-state.ts says it in words); returns when it can. */
export async function assertDayLinkUsable(d1: D1Database, link: CampaignLinkRow, day: DayNow, opts: { ignoreExpiry?: boolean } = {}): Promise<void> {
  const { row } = day;
  const sameRound = link.round === row.round;
  const own = sameRound ? (day.decisions.find((d) => d.approverSub === link.approverSub) ?? null) : null;
  const newer = sameRound
    ? (await listCampaignLinks(d1, link.campaignId, row.day, row.round))
        .filter((l) => l.approverSub === link.approverSub && l.createdAt > link.createdAt)
        .at(-1)
    : undefined;
  assertCampaignLinkUsable(
    link,
    { status: row.status, round: row.round, currentStep: day.progress.current.policyIndex, own, newerLinkAt: newer?.createdAt ?? null },
    opts,
  );
}

/**
 * An expired link's approver asks for a new one (POST /approve/{token}/renew): everything but the
 * expiry must hold, and the approver must still be one of the step's; the new link goes to their
 * enrolled address (never to the page) and replaces the old one in the same transaction.
 */
export async function renewDayLink(env: Env, c: CampaignRow, link: CampaignLinkRow, origin: string, requestId?: string): Promise<CampaignLinkRow> {
  const day = await readDay(env.DB, c, link.day, CAMPAIGN_PAGE_REWARDS);
  if (!day) throw new AppError("approval_link_invalid", "This is not a valid approval link");
  await assertDayLinkUsable(env.DB, link, day, { ignoreExpiry: true });
  const { row, content, decisions, progress: p } = day;
  if (link.expiresAt > new Date().toISOString()) throw new AppError("approval_link_active", "This link still works: open it again to decide.");
  const me = (await stepApprovers(env.DB, c, p.current.role, decisions)).find((a) => a.sub === link.approverSub);
  if (!me) throw new AppError("not_an_approver", `You are no longer a ${p.current.role} approver of these rewards, so no new link was sent.`);
  try {
    const [renewed] = await issueCampaignDayLinks({
      env,
      org: c.org,
      summary: await daySummary(env.DB, c, content, p, row.day),
      round: row.round,
      step: p.current,
      approvers: [me],
      origin,
      guards: [...supersedeCampaignLink(env.DB, link.id), ...requireDayOpen(env.DB, row)],
      requestId,
      actor: me.sub,
      action: "campaign.approval_link_renewed",
      replaces: link.id,
    });
    return renewed!;
  } catch (err) {
    if (isGuardFailure(err))
      throw new AppError("approval_link_superseded", "This link has just been replaced by a new one: look for the newest approval email.");
    throw err;
  }
}

export type DayOutcome = "recorded" | "step_completed" | "approved" | "rejected";

export interface DayDecisionInput {
  org: string;
  campaignId: string;
  day: string;
  /** `roles` from the API token; absent by link (the link binds the step, and the enrolment is checked). */
  decider: { sub: string; roles?: readonly Role[] };
  decision: "approve" | "reject";
  comment: string | null;
  /** By link: the link's id (its round, step and enrolment are checked against the day now). */
  link?: { id: string };
  /** The day's content the decider saw (the page's form); a different list now is refused with `rewards_changed`. */
  fingerprint?: string;
  requestId?: string;
}

export interface DayPlan {
  campaign: CampaignRow;
  row: DayRow;
  content: DayContent;
  progress: Progress;
  outcome: DayOutcome;
  link: CampaignLinkRow | null;
}

const MAX_ATTEMPTS = 4;

async function plan(env: Env, input: DayDecisionInput): Promise<DayPlan> {
  const d1 = env.DB;
  const c = await requireCampaign(d1, input.org, input.campaignId);
  const day = await readDay(d1, c, input.day, 0);
  if (!day) throw notFound("approval request", `${c.id}/${input.day}`);
  const { row, content, decisions, progress: p } = day;
  const { sub, roles } = input.decider;
  const link = input.link ? await findCampaignLink(d1, input.org, input.link.id) : null;
  if (input.link && (!link || link.campaignId !== c.id || link.day !== row.day || link.approverSub !== sub)) {
    throw new AppError("approval_link_invalid", "This is not a valid approval link");
  }
  if (link) await assertDayLinkUsable(d1, link, day);
  const own = decisions.find((d) => d.approverSub === sub) ?? null;
  if ((await campaignShapers(d1, c)).has(sub)) {
    throw new AppError("self_approval_forbidden", "You created or edited this campaign, so someone else must decide on its rewards (four-eyes).");
  }
  if (row.status === "rejected" && input.decision === "reject" && !link) await returnRejected(env, c, row.day, sub); // finishes an interrupted rejection
  assertOpen(row);
  if (content.count === 0) throw new AppError("already_decided", `No reward of ${row.day} is pending approval`);
  if (link) await assertLinkApprover(d1, c.org, sub, p.current.role, link.enrolmentId);
  else if (roles && !roles.includes(p.current.role)) {
    throw new AppError("forbidden", `Step ${p.current.index + 1} of ${p.steps.length} of these rewards needs the ${p.current.role} role`);
  }
  if (own) throw new AppError("already_decided", `${sub} already ${own.decision === "approve" ? "approved" : "rejected"} these rewards on ${own.createdAt}`);
  if (input.fingerprint !== undefined && input.fingerprint !== content.fingerprint) {
    throw new AppError("rewards_changed", `The rewards of ${row.day} pending approval changed since they were shown; look at the list again before deciding.`);
  }
  const last = p.current.index === p.steps.length - 1;
  const outcome: DayOutcome = input.decision === "reject" ? "rejected" : p.approvals + 1 < p.current.quorum ? "recorded" : last ? "approved" : "step_completed";
  return { campaign: c, row, content, progress: p, outcome, link };
}

async function commit(env: Env, input: DayDecisionInput, x: DayPlan): Promise<{ delivery_id: string; amount: number }[]> {
  const d1 = env.DB;
  const { campaign: c, row, progress: p, outcome } = x;
  const at = new Date().toISOString();
  const sub = input.decider.sub;
  const decision: DayDecisionRow = {
    id: newId("cad"),
    org: c.org,
    campaignId: c.id,
    day: row.day,
    round: row.round,
    step: p.current.policyIndex,
    role: p.current.role,
    approverSub: sub,
    decision: input.decision,
    comment: input.comment,
    via: x.link ? "link" : "api",
    linkId: x.link?.id ?? null,
    fingerprint: x.content.fingerprint,
    createdAt: at,
  };
  const recorded = [
    ...insertDayDecision(d1, decision, p.approvals),
    ...(x.link ? useCampaignLink(d1, x.link.id, at) : []),
    supersedeCampaignLinks(d1, c.id, row.day, { approverSub: sub }),
  ];
  const approvals = p.approvals + (input.decision === "approve" ? 1 : 0);
  const base = { actor: sub, entityType: "campaign", entityId: c.id, requestId: input.requestId };
  const events: AuditInput[] = [
    {
      ...base,
      action: "campaign.approval_decided",
      after: {
        day: row.day,
        round: row.round,
        decision_id: decision.id,
        step: p.current.policyIndex,
        role: p.current.role,
        decision: input.decision,
        comment: input.comment,
        via: decision.via,
        link_id: decision.linkId,
        ...(x.link ? { enrolment_id: x.link.enrolmentId } : {}),
        fingerprint: decision.fingerprint,
        approvals,
        quorum: p.current.quorum,
      },
    },
  ];
  let stmts: D1PreparedStatement[];
  if (outcome === "approved" || outcome === "rejected") {
    events.push({
      ...base,
      action: outcome === "approved" ? "campaign.rewards_approved" : "campaign.rewards_rejected",
      after: { day: row.day, round: row.round, comment: input.comment, rewards: x.content.count, total: x.content.total },
    });
    stmts = [
      ...recorded,
      ...closeDay(d1, row, outcome, sub, at, input.comment),
      supersedeCampaignLinks(d1, c.id, row.day),
      ...(outcome === "approved" ? [createForApprovedRewards(d1, c.id, row.day, at)] : []),
      decidePendingRewards(d1, row, input.decision, sub, at),
    ];
  } else if (outcome === "step_completed") {
    events.push({
      ...base,
      action: "campaign.approval_step_completed",
      after: { day: row.day, round: row.round, step: p.current.policyIndex, role: p.current.role, approvals },
    });
    stmts = [...recorded, supersedeCampaignLinks(d1, c.id, row.day)];
  } else {
    stmts = recorded;
  }
  const results = await appendAudit(d1, c.org, events, stmts);
  return outcome === "approved" || outcome === "rejected" ? (results.at(-1)!.results as { delivery_id: string; amount: number }[]) : [];
}

/**
 * One decision on a campaign's day, by API or by link. Plan (read the day, its steps and
 * decisions, check the decider), then commit with guards (same round, still open, same list, the
 * step's count unchanged, the link unused); a racing change re-plans.
 */
export async function decideCampaignDay(env: Env, input: DayDecisionInput, origin: string) {
  let x: DayPlan;
  let decided: { delivery_id: string; amount: number }[];
  for (let attempt = 1; ; attempt++) {
    x = await plan(env, input);
    try {
      decided = await commit(env, input, x);
      break;
    } catch (err) {
      if (!isGuardFailure(err) || attempt >= MAX_ATTEMPTS)
        throw isGuardFailure(err) ? new AppError("conflict", "Someone decided on these rewards meanwhile; try again") : err;
    }
  }
  const { campaign: c, row, progress: p, outcome } = x;
  if (outcome === "approved") {
    const messages: QueueMessage[] = decided.map((d) => ({ type: "deliver", org: c.org, campaignId: c.id, deliveryIds: [d.delivery_id] }));
    await sendMessages(env.DELIVERY_QUEUE, messages);
  } else if (outcome === "rejected") {
    await returnRejected(env, c, row.day, input.decider.sub);
  } else if (outcome === "step_completed") {
    try {
      const now = await findDay(env.DB, c.id, row.day);
      if (now?.status === "open") await ensureStepLinks(env, c, now, origin, input.requestId);
    } catch (err) {
      // The approval stands; the next step can decide by API, and the day's next reward sends the links.
      console.error(JSON.stringify({ request_id: input.requestId, campaign_id: c.id, day: row.day, follow_up: outcome, error: redactTokens(String(err)) }));
    }
  }
  const step = { number: p.current.index + 1, of: p.steps.length, role: p.current.role, quorum: p.current.quorum };
  return {
    day: row.day,
    decision: input.decision,
    outcome,
    rewards: decided.length,
    total: decided.reduce((s, d) => s + d.amount, 0),
    step,
    approvals: p.approvals + (input.decision === "approve" ? 1 : 0),
    campaignName: c.name,
  };
}

/** POST /v1/campaigns/{id}/approvals/{day}: the API form of `decideCampaignDay`. */
export async function decideApproval(
  env: Env,
  auth: Auth,
  campaignId: string,
  day: string,
  decision: "approve" | "reject",
  comment: string | null,
  origin: string,
  requestId?: string,
) {
  const r = await decideCampaignDay(
    env,
    { org: auth.org, campaignId, day, decider: { sub: auth.sub, roles: auth.roles }, decision, comment, requestId },
    origin,
  );
  return { day: r.day, decision: r.decision, outcome: r.outcome, rewards: r.rewards, total: r.total, step: r.step };
}

/** Gives the value of a day's rejected rewards back to the hold; a retry after a crash finishes what is left. */
async function returnRejected(env: Env, c: CampaignRow, day: string, actor: string): Promise<void> {
  const { results } = await env.DB.prepare(
    "SELECT id, delivery_id FROM campaign_outcomes WHERE campaign_id = ? AND approval_day = ? AND reason = 'approval_rejected' AND committed = 1",
  )
    .bind(c.id, day)
    .all<{ id: string; delivery_id: string }>();
  for (const r of results) {
    await refundCampaignReward(env, campaignRef(c), r.delivery_id, actor);
    await env.DB.prepare("UPDATE campaign_outcomes SET committed = 0 WHERE id = ?").bind(r.id).run();
  }
}
