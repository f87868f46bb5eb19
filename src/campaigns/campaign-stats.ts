/** A campaign's counts and spend, read from its outcomes (one row per event it evaluated). */
import { SKIP_REASONS, type SkipReason } from "../events/outcomes";

/** Skips that came after the rules matched: the event was eligible but a cap, the budget or a missing card (card_credit) stopped it. */
const MATCHED_SKIPS: readonly SkipReason[] = ["customer_cap", "campaign_cap", "budget_exhausted", "no_card"];

/**
 * Events and skips come from the running counts (campaign_stats, added to once per request); the
 * rewards from their outcome rows (an approval decision moves them between pending, rewarded and rejected).
 */
export async function campaignCounts(d1: D1Database, campaignId: string) {
  const [stats, rewards] = await d1.batch<{ k: string; n: number }>([
    d1.prepare("SELECT key AS k, n FROM campaign_stats WHERE campaign_id = ?").bind(campaignId),
    d1
      .prepare(
        `SELECT CASE WHEN outcome = 'skipped' THEN 'skipped:' || reason ELSE outcome END AS k, COUNT(*) AS n FROM campaign_outcomes
         WHERE campaign_id = ? AND (outcome <> 'skipped' OR reason = 'approval_rejected') GROUP BY k`,
      )
      .bind(campaignId),
  ]);
  const skipped = Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<SkipReason, number>;
  const counts = { events: 0, matched: 0, rewarded: 0, pending_approval: 0, rejected: 0, skipped };
  for (const r of stats!.results) {
    if (r.k === "events") counts.events = r.n;
    const reason = r.k.slice("skipped:".length) as SkipReason;
    if (r.k.startsWith("skipped:") && reason in skipped) {
      skipped[reason] += r.n;
      if (MATCHED_SKIPS.includes(reason)) counts.matched += r.n;
    }
  }
  for (const r of rewards!.results) {
    if (r.k === "rewarded") counts.rewarded = r.n;
    else if (r.k === "pending_approval") counts.pending_approval = r.n;
    else if (r.k === "skipped:approval_rejected") counts.rejected = r.n;
    counts.matched += r.n;
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
