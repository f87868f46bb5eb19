/**
 * The read side of campaign approvals: `GET /v1/campaigns/{id}/approvals`, the last 60 days' requests
 * with their pending and decided rewards (a referral's side named) and each round's decisions. The
 * decisions themselves are made in approvals.ts.
 */
import type { Env } from "../env";
import { requireCampaign } from "./campaigns.service";

export async function listApprovals(env: Env, org: string, campaignId: string) {
  const c = await requireCampaign(env.DB, org, campaignId);
  const days = "SELECT day FROM campaign_approvals WHERE campaign_id = ?1 ORDER BY day DESC LIMIT 60";
  const [requests, rewards, decisions] = await env.DB.batch<Record<string, string | number | null>>([
    env.DB.prepare(
      "SELECT day, status, round, decided_by, decided_at, comment, created_at, updated_at FROM campaign_approvals WHERE campaign_id = ? ORDER BY day DESC LIMIT 60",
    ).bind(c.id),
    env.DB.prepare(
      `SELECT approval_day, event_id, side, amount, external_id, outcome, reason, created_at FROM campaign_outcomes
       WHERE campaign_id = ?1 AND approval_day IN (${days}) ORDER BY created_at`,
    ).bind(c.id),
    env.DB.prepare(
      `SELECT d.day, d.step, d.role, d.approver_sub, d.decision, d.comment, d.via, d.created_at FROM campaign_approval_decisions d
       JOIN campaign_approvals a ON a.campaign_id = d.campaign_id AND a.day = d.day AND a.round = d.round
       WHERE d.campaign_id = ?1 AND d.day IN (${days}) ORDER BY d.created_at, d.id`,
    ).bind(c.id),
  ]);
  return {
    data: requests!.results.map((r) => {
      const list = rewards!.results.filter((x) => x.approval_day === r.day);
      return {
        day: String(r.day),
        status: r.status as "open" | "approved" | "rejected",
        round: Number(r.round),
        decided_by: r.decided_by as string | null,
        decided_at: r.decided_at as string | null,
        comment: r.comment as string | null,
        currency: c.currency,
        pending: list
          .filter((x) => x.outcome === "pending_approval")
          .map((x) => ({
            event_id: String(x.event_id),
            ...(x.side ? { side: x.side as "referee" | "referrer" } : {}),
            amount: Number(x.amount),
            external_id: x.external_id as string | null,
            created_at: String(x.created_at),
          })),
        decided: list
          .filter((x) => x.outcome !== "pending_approval")
          .map((x) => ({
            event_id: String(x.event_id),
            ...(x.side ? { side: x.side as "referee" | "referrer" } : {}),
            amount: Number(x.amount),
            outcome: (x.outcome === "rewarded" ? "approved" : "rejected") as "approved" | "rejected",
          })),
        decisions: decisions!.results
          .filter((d) => d.day === r.day)
          .map((d) => ({
            step: Number(d.step),
            role: String(d.role),
            approver_sub: String(d.approver_sub),
            decision: d.decision as "approve" | "reject",
            comment: d.comment as string | null,
            via: d.via as "link" | "api",
            decided_at: String(d.created_at),
          })),
      };
    }),
  };
}
