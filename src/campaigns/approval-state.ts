/**
 * The state of a campaign's approval requests, one per campaign per UTC day (`campaign_approvals`),
 * and of the decisions on them (`campaign_approval_decisions`). Every write of either table is
 * built here.
 *
 * A request has rounds. Round 1 opens with the day's first pending reward and snapshots the org's
 * approval policy; the day's **steps** are the policy's steps that apply to the total of the
 * rewards pending now (as a batch's valid total selects them: steps with `min_total` ≤ total, else
 * the first step). A step completes when `quorum` distinct people approved it; each person decides
 * once per round. A new reward keeps the round, and its links, as long as nobody approved yet (the
 * links show the list as it is when opened); once someone approved a shorter list, a new reward
 * starts a new round (their approval no longer counts, new links go out). A decided request that
 * gets a new pending reward reopens as a new round too.
 */
import { AppError } from "../core/errors";
import { requireChanged } from "../core/guard";
import { applicablePolicySteps, type ApprovalPolicy, type PolicyStep } from "../approvals/policy";
import type { campaignApprovalDecisions, campaignApprovals } from "../db/schema";
import { getSettings } from "../settings/settings.service";

export type DayRow = typeof campaignApprovals.$inferSelect;
export type DayDecisionRow = typeof campaignApprovalDecisions.$inferSelect;

/** The rewards of a day waiting for a decision. */
const PENDING = "campaign_id = ?1 AND approval_day = ?2 AND outcome = 'pending_approval' AND committed = 1";
/** The day's content fingerprint in SQL, so a guard can compare it inside a transaction: `count:total:latest created_at`. */
const FINGERPRINT_SQL = `(SELECT count(*) || ':' || coalesce(sum(amount), 0) || ':' || coalesce(max(created_at), '') FROM campaign_outcomes WHERE ${PENDING})`;

export interface DayContent {
  count: number;
  total: number;
  fingerprint: string;
  /** The first `limit` pending rewards, oldest first. */
  rewards: { eventId: string; side: string | null; externalId: string | null; amount: number; createdAt: string }[];
}

export async function dayContent(d1: D1Database, campaignId: string, day: string, limit: number): Promise<DayContent> {
  const [agg, list] = await d1.batch<Record<string, string | number | null>>([
    d1
      .prepare(`SELECT count(*) AS n, coalesce(sum(amount), 0) AS total, ${FINGERPRINT_SQL} AS fp FROM campaign_outcomes WHERE ${PENDING}`)
      .bind(campaignId, day),
    d1
      .prepare(`SELECT event_id, side, external_id, amount, created_at FROM campaign_outcomes WHERE ${PENDING} ORDER BY created_at, id LIMIT ?3`)
      .bind(campaignId, day, limit),
  ]);
  const a = agg!.results[0]!;
  return {
    count: Number(a.n),
    total: Number(a.total),
    fingerprint: String(a.fp),
    rewards: list!.results.map((r) => ({
      eventId: String(r.event_id),
      side: r.side as string | null,
      externalId: r.external_id as string | null,
      amount: Number(r.amount),
      createdAt: String(r.created_at),
    })),
  };
}

export async function findDay(d1: D1Database, campaignId: string, day: string): Promise<DayRow | null> {
  const r = await d1
    .prepare(
      "SELECT org, campaign_id, day, status, decided_by, decided_at, comment, round, policy, created_at, updated_at FROM campaign_approvals WHERE campaign_id = ? AND day = ?",
    )
    .bind(campaignId, day)
    .first<Record<string, string | number | null>>();
  if (!r) return null;
  return {
    org: String(r.org),
    campaignId: String(r.campaign_id),
    day: String(r.day),
    status: r.status as DayRow["status"],
    decidedBy: r.decided_by as string | null,
    decidedAt: r.decided_at as string | null,
    comment: r.comment as string | null,
    round: Number(r.round),
    policy: r.policy as string | null,
    createdAt: String(r.created_at),
    updatedAt: String(r.updated_at),
  };
}

/**
 * A pending reward was committed for `day`: opens the request (round 1), reopens a decided one that
 * has pending rewards (next round), or starts a new round of an open one when someone approved a
 * list that has changed since. Returns the request as it is now.
 */
export async function openDay(d1: D1Database, org: string, campaignId: string, day: string): Promise<DayRow | null> {
  const settings = await getSettings(d1, org);
  const now = new Date().toISOString();
  await d1
    .prepare(
      `INSERT INTO campaign_approvals (org, campaign_id, day, status, round, policy, created_at, updated_at) VALUES (?4, ?1, ?2, 'open', 1, ?5, ?3, ?3)
       ON CONFLICT (campaign_id, day) DO UPDATE SET status = 'open', round = round + 1, policy = excluded.policy,
         decided_by = NULL, decided_at = NULL, comment = NULL, updated_at = ?3
       WHERE (status <> 'open' AND EXISTS (SELECT 1 FROM campaign_outcomes WHERE ${PENDING}))
          OR (status = 'open' AND EXISTS (SELECT 1 FROM campaign_approval_decisions d WHERE d.campaign_id = ?1 AND d.day = ?2
                AND d.round = campaign_approvals.round AND d.fingerprint <> ${FINGERPRINT_SQL}))`,
    )
    .bind(campaignId, day, now, org, JSON.stringify(settings.approval_policy))
    .run();
  return findDay(d1, campaignId, day);
}

/** The steps of the day's round for the total pending now, from the round's policy snapshot (the org's current policy for a request older than snapshots). */
export async function daySteps(d1: D1Database, row: DayRow, total: number): Promise<PolicyStep[]> {
  const policy = row.policy ? (JSON.parse(row.policy) as ApprovalPolicy) : (await getSettings(d1, row.org)).approval_policy;
  return applicablePolicySteps(policy, total);
}

export async function roundDecisions(d1: D1Database, row: Pick<DayRow, "campaignId" | "day" | "round">): Promise<DayDecisionRow[]> {
  const { results } = await d1
    .prepare(
      `SELECT id, org, campaign_id, day, round, step, role, approver_sub, decision, comment, via, link_id, fingerprint, created_at
       FROM campaign_approval_decisions WHERE campaign_id = ? AND day = ? AND round = ? ORDER BY created_at, id`,
    )
    .bind(row.campaignId, row.day, row.round)
    .all<Record<string, string | number | null>>();
  return results.map((r) => ({
    id: String(r.id),
    org: String(r.org),
    campaignId: String(r.campaign_id),
    day: String(r.day),
    round: Number(r.round),
    step: Number(r.step),
    role: String(r.role),
    approverSub: String(r.approver_sub),
    decision: r.decision as "approve" | "reject",
    comment: r.comment as string | null,
    via: r.via as "link" | "api",
    linkId: r.link_id as string | null,
    fingerprint: String(r.fingerprint),
    createdAt: String(r.created_at),
  }));
}

export interface Progress {
  steps: PolicyStep[];
  /** The step awaiting approvals: the first whose approvals (of the current list) are short of its quorum; the last when all are met. */
  current: PolicyStep;
  approvals: number;
}

/** Where the round stands: approvals count for their step only when they were made on the list pending now. */
export function progress(steps: PolicyStep[], decisions: DayDecisionRow[], fingerprint: string): Progress {
  const count = (s: PolicyStep) => decisions.filter((d) => d.step === s.policyIndex && d.decision === "approve" && d.fingerprint === fingerprint).length;
  const current = steps.find((s) => count(s) < s.quorum) ?? steps.at(-1)!;
  return { steps, current, approvals: count(current) };
}

/**
 * Records a decision only if the request is still open in the same round, the approver has not
 * decided in it, the step still has `approvalsBefore` approvals of this list, and the day's pending
 * rewards are still the ones decided on (same fingerprint). Anything else aborts the transaction.
 */
export function insertDayDecision(d1: D1Database, d: DayDecisionRow, approvalsBefore: number): D1PreparedStatement[] {
  return [
    d1
      .prepare(
        `INSERT INTO campaign_approval_decisions (id, org, campaign_id, day, round, step, role, approver_sub, decision, comment, via, link_id, fingerprint, created_at)
         SELECT ?3, ?4, ?1, ?2, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14
         WHERE EXISTS (SELECT 1 FROM campaign_approvals WHERE campaign_id = ?1 AND day = ?2 AND status = 'open' AND round = ?5)
           AND NOT EXISTS (SELECT 1 FROM campaign_approval_decisions WHERE campaign_id = ?1 AND day = ?2 AND round = ?5 AND approver_sub = ?8)
           AND (SELECT count(*) FROM campaign_approval_decisions WHERE campaign_id = ?1 AND day = ?2 AND round = ?5 AND step = ?6
                  AND decision = 'approve' AND fingerprint = ?13) = ?15
           AND ${FINGERPRINT_SQL} = ?13`,
      )
      .bind(
        d.campaignId,
        d.day,
        d.id,
        d.org,
        d.round,
        d.step,
        d.role,
        d.approverSub,
        d.decision,
        d.comment,
        d.via,
        d.linkId,
        d.fingerprint,
        d.createdAt,
        approvalsBefore,
      ),
    requireChanged(d1),
  ];
}

/** Closes the round's request as approved or rejected (it must still be open in that round). */
export function closeDay(d1: D1Database, row: DayRow, status: "approved" | "rejected", by: string, at: string, comment: string | null): D1PreparedStatement[] {
  return [
    d1
      .prepare(
        "UPDATE campaign_approvals SET status = ?3, decided_by = ?4, decided_at = ?5, comment = ?6, updated_at = ?5 WHERE campaign_id = ?1 AND day = ?2 AND status = 'open' AND round = ?7",
      )
      .bind(row.campaignId, row.day, status, by, at, comment, row.round),
    requireChanged(d1),
  ];
}

/** A guard that the request is still open in this round (for links issued with it). */
export function requireDayOpen(d1: D1Database, row: Pick<DayRow, "campaignId" | "day" | "round">): D1PreparedStatement[] {
  return [
    d1
      .prepare("UPDATE campaign_approvals SET updated_at = updated_at WHERE campaign_id = ?1 AND day = ?2 AND status = 'open' AND round = ?3")
      .bind(row.campaignId, row.day, row.round),
    requireChanged(d1),
  ];
}

/** The outcome rows of the day's pending rewards move to `rewarded` or to `skipped: approval_rejected`; returns their delivery ids and amounts. */
export function decidePendingRewards(d1: D1Database, row: DayRow, decision: "approve" | "reject", by: string, at: string): D1PreparedStatement {
  const set = decision === "approve" ? "outcome = 'rewarded'" : "outcome = 'skipped', reason = 'approval_rejected'";
  return d1
    .prepare(`UPDATE campaign_outcomes SET ${set}, decided_by = ?3, decided_at = ?4 WHERE ${PENDING} RETURNING delivery_id, amount`)
    .bind(row.campaignId, row.day, by, at);
}

export function assertOpen(row: DayRow): void {
  if (row.status !== "open") throw new AppError("already_decided", `The rewards of ${row.day} were already ${row.status}; new ones reopen the request`);
}
