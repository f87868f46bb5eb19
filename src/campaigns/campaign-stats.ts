/** A campaign's counts and spend, read from its outcomes (one row per event it evaluated). */
import { SKIP_REASONS, type SkipReason } from "../events/outcomes";

/** Skips that came after the rules matched: the event was eligible but a cap or the budget stopped it. */
const MATCHED_SKIPS: readonly SkipReason[] = ["customer_cap", "campaign_cap", "budget_exhausted"];

export async function campaignCounts(d1: D1Database, campaignId: string) {
  const { results } = await d1
    .prepare("SELECT outcome, reason, COUNT(*) AS n FROM campaign_outcomes WHERE campaign_id = ? GROUP BY outcome, reason")
    .bind(campaignId)
    .all<{ outcome: string; reason: string | null; n: number }>();
  const skipped = Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<SkipReason, number>;
  const counts = { events: 0, matched: 0, rewarded: 0, pending_approval: 0, rejected: 0, skipped };
  for (const r of results) {
    counts.events += r.n;
    if (r.outcome === "rewarded") counts.rewarded += r.n;
    else if (r.outcome === "pending_approval") counts.pending_approval += r.n;
    else if (r.reason === "approval_rejected") counts.rejected += r.n;
    else if (r.reason && r.reason in skipped) skipped[r.reason as SkipReason] += r.n;
    if (r.outcome !== "skipped" || r.reason === "approval_rejected" || MATCHED_SKIPS.includes(r.reason as SkipReason)) counts.matched += r.n;
  }
  return counts;
}

/** Value committed to rewarded events per UTC day, newest first (the last 90 days with spend). */
export async function spendByDay(d1: D1Database, campaignId: string) {
  const { results } = await d1
    .prepare(
      `SELECT substr(created_at, 1, 10) AS day, SUM(amount) AS amount, COUNT(*) AS rewards FROM campaign_outcomes
       WHERE campaign_id = ? AND outcome = 'rewarded' GROUP BY day ORDER BY day DESC LIMIT 90`,
    )
    .bind(campaignId)
    .all<{ day: string; amount: number; rewards: number }>();
  return results;
}
