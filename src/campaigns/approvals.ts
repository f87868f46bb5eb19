/**
 * Approval of campaign rewards at or above `approval.at_or_above`. Such a reward is committed from
 * the budget when its event is evaluated (so the budget can never be promised twice) but gets no
 * delivery: it waits in one request per campaign per UTC day. Finance decides by API, the same
 * operation as a batch decision by token; four-eyes refuses whoever created or edited the
 * campaign. Approve creates the day's deliveries and queues them; reject gives their value back
 * to the campaign's hold (op id per reward: once). Active enrolled finance approvers
 * (src/approvers/) are emailed when a day's request opens.
 */
import { appendAudit } from "../audit/audit";
import { sendEmail } from "../channels/email";
import { AppError, notFound } from "../core/errors";
import { isGuardFailure, requireChanged } from "../core/guard";
import { createForApprovedRewards } from "../delivery/delivery-state";
import { enrolledFor } from "../approvers/eligibility";
import type { Auth, Env } from "../env";
import { refundCampaignReward } from "../pools/campaign-budget";
import { sendMessages, type QueueMessage } from "../queues/messages";
import { campaignRef, requireCampaign } from "./campaigns.service";
import type { CampaignRow } from "./campaign-state";

/** Who shaped the campaign: its creator and everyone who edited it. They never decide on its rewards. */
async function campaignShapers(d1: D1Database, c: CampaignRow): Promise<Set<string>> {
  const { results } = await d1
    .prepare("SELECT DISTINCT actor FROM audit_events WHERE org = ? AND entity_id = ? AND action IN ('campaign.created', 'campaign.updated')")
    .bind(c.org, c.id)
    .all<{ actor: string }>();
  return new Set([c.createdBy, ...results.map((r) => r.actor)]);
}

/**
 * A pending reward was committed: open (or reopen) its day's request. The first opening of a day
 * emails the finance approvers who did not shape the campaign.
 */
export async function openApprovalRequest(env: Env, c: CampaignRow, day: string): Promise<void> {
  const now = new Date().toISOString();
  const { results } = await env.DB.prepare(
    `INSERT INTO campaign_approvals (org, campaign_id, day, status, created_at, updated_at) VALUES (?1, ?2, ?3, 'open', ?4, ?4)
     ON CONFLICT (campaign_id, day) DO UPDATE SET status = 'open', updated_at = ?4 WHERE status <> 'open'
     RETURNING created_at`,
  )
    .bind(c.org, c.id, day, now)
    .all<{ created_at: string }>();
  if (results[0]?.created_at !== now) return;
  const shapers = await campaignShapers(env.DB, c);
  const text =
    `Campaign "${c.name}" (${c.id}) has rewards of ${day} waiting for approval (at or above ${c.approvalAtOrAbove} ${c.currency}). ` +
    `See them with GET /v1/campaigns/${c.id}/approvals and decide with POST /v1/campaigns/${c.id}/approvals/${day} { "decision": "approve" | "reject" }.`;
  for (const a of await enrolledFor(env.DB, c.org, "finance")) {
    if (shapers.has(a.sub)) continue;
    await sendEmail(env, {
      org: c.org,
      to: a.email,
      subject: `Rewards to approve: ${c.name} (${day})`,
      text,
      html: `<p>${text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)}</p>`,
      idempotencyKey: `campaign-approval:${c.id}:${day}:${a.sub}`,
    });
  }
}

export async function listApprovals(env: Env, org: string, campaignId: string) {
  const c = await requireCampaign(env.DB, org, campaignId);
  const [requests, rewards] = await env.DB.batch<Record<string, string | number | null>>([
    env.DB.prepare(
      "SELECT day, status, decided_by, decided_at, comment, created_at, updated_at FROM campaign_approvals WHERE campaign_id = ? ORDER BY day DESC LIMIT 60",
    ).bind(c.id),
    env.DB.prepare(
      `SELECT approval_day, event_id, amount, external_id, outcome, reason, created_at FROM campaign_outcomes
       WHERE campaign_id = ?1 AND approval_day IN (SELECT day FROM campaign_approvals WHERE campaign_id = ?1 ORDER BY day DESC LIMIT 60) ORDER BY created_at`,
    ).bind(c.id),
  ]);
  return {
    data: requests!.results.map((r) => {
      const list = rewards!.results.filter((x) => x.approval_day === r.day);
      return {
        day: String(r.day),
        status: r.status as "open" | "approved" | "rejected",
        decided_by: r.decided_by as string | null,
        decided_at: r.decided_at as string | null,
        comment: r.comment as string | null,
        currency: c.currency,
        pending: list
          .filter((x) => x.outcome === "pending_approval")
          .map((x) => ({
            event_id: String(x.event_id),
            amount: Number(x.amount),
            external_id: x.external_id as string | null,
            created_at: String(x.created_at),
          })),
        decided: list
          .filter((x) => x.outcome !== "pending_approval")
          .map((x) => ({
            event_id: String(x.event_id),
            amount: Number(x.amount),
            outcome: (x.outcome === "rewarded" ? "approved" : "rejected") as "approved" | "rejected",
          })),
      };
    }),
  };
}

export async function decideApproval(
  env: Env,
  auth: Auth,
  campaignId: string,
  day: string,
  decision: "approve" | "reject",
  comment: string | null,
  requestId?: string,
) {
  const c = await requireCampaign(env.DB, auth.org, campaignId);
  const req = await env.DB.prepare("SELECT status FROM campaign_approvals WHERE campaign_id = ? AND day = ?").bind(c.id, day).first<{ status: string }>();
  if (!req) throw notFound("approval request", `${c.id}/${day}`);
  if ((await campaignShapers(env.DB, c)).has(auth.sub)) {
    throw new AppError("self_approval_forbidden", "You created or edited this campaign, so someone else must decide on its rewards (four-eyes).");
  }
  if (req.status === "rejected" && decision === "reject") await returnRejected(env, c, day, auth.sub); // finishes an interrupted rejection
  if (req.status !== "open") throw new AppError("already_decided", `The rewards of ${day} were already ${req.status}; new ones reopen the request`);
  const at = new Date().toISOString();
  const close = env.DB.prepare(
    "UPDATE campaign_approvals SET status = ?3, decided_by = ?4, decided_at = ?5, comment = ?6, updated_at = ?5 WHERE campaign_id = ?1 AND day = ?2 AND status = 'open'",
  ).bind(c.id, day, decision === "approve" ? "approved" : "rejected", auth.sub, at, comment);
  const pendingWhere = "campaign_id = ?1 AND approval_day = ?2 AND outcome = 'pending_approval' AND committed = 1";
  const stmts =
    decision === "approve"
      ? [
          close,
          requireChanged(env.DB),
          createForApprovedRewards(env.DB, c.id, day, at),
          env.DB.prepare(
            `UPDATE campaign_outcomes SET outcome = 'rewarded', decided_by = ?3, decided_at = ?4 WHERE ${pendingWhere} RETURNING delivery_id, amount`,
          ).bind(c.id, day, auth.sub, at),
        ]
      : [
          close,
          requireChanged(env.DB),
          env.DB.prepare(
            `UPDATE campaign_outcomes SET outcome = 'skipped', reason = 'approval_rejected', decided_by = ?3, decided_at = ?4 WHERE ${pendingWhere} RETURNING delivery_id, amount`,
          ).bind(c.id, day, auth.sub, at),
        ];
  let results: D1Result[];
  try {
    results = await appendAudit(
      env.DB,
      auth.org,
      [
        {
          actor: auth.sub,
          action: decision === "approve" ? "campaign.rewards_approved" : "campaign.rewards_rejected",
          entityType: "campaign",
          entityId: c.id,
          after: { day, comment },
          requestId,
        },
      ],
      stmts,
    );
  } catch (err) {
    if (isGuardFailure(err)) throw new AppError("already_decided", `Someone decided on the rewards of ${day} meanwhile`);
    throw err;
  }
  const decided = results.at(-1)!.results as { delivery_id: string; amount: number }[];
  if (decision === "approve") {
    const messages: QueueMessage[] = decided.map((d) => ({ type: "deliver", org: c.org, campaignId: c.id, deliveryIds: [d.delivery_id] }));
    await sendMessages(env.DELIVERY_QUEUE, messages);
  } else {
    await returnRejected(env, c, day, auth.sub);
  }
  return { day, decision, rewards: decided.length, total: decided.reduce((s, d) => s + d.amount, 0) };
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
