/**
 * campaign.budget_low: a warning before a campaign pauses itself. The low-budget mark is 80 % of the
 * campaign's pause threshold (budget × pause_at_pct / 100): a campaign with a 10,000 budget pausing
 * at 100 % warns when 8,000 is committed, leaving a fifth of the way to top it up. It is emitted by
 * the evaluation whose commits cross the mark (called from src/events/evaluate.ts right after a
 * request's pool claim for the campaign, with what that claim committed, before the pause check), through appendAudit and so the outbox, once per crossing: a row keyed by
 * campaign and budget amount is inserted in the same batch, guarded, so concurrent rewards emit it
 * once, and a top-up (a new budget amount) arms it again.
 */
import { appendAudit } from "../audit/audit";
import type { CampaignRow } from "../campaigns/campaign-state";
import { isGuardFailure, requireChanged } from "../core/guard";
import type { Env } from "../env";

export const LOW_BUDGET_PCT_OF_PAUSE = 80;

export const lowBudgetMark = (c: Pick<CampaignRow, "budgetAmount" | "pauseAtPct">) =>
  Math.floor((Math.floor((c.budgetAmount * c.pauseAtPct) / 100) * LOW_BUDGET_PCT_OF_PAUSE) / 100);

/**
 * After a reward of `amount` was committed and the campaign's holds now carry `committed`: emits the
 * event when this commit crossed the mark. `exact` is false when `committed` was summed over several
 * holds after the fact (it may already include later rewards): then any reading at or over the mark
 * tries, and the key keeps it to one event.
 */
export async function noteBudgetLow(env: Env, c: CampaignRow, committed: number, amount: number, exact = true): Promise<boolean> {
  const mark = lowBudgetMark(c);
  if (mark <= 0 || committed < mark || (exact && committed - amount >= mark)) return false;
  const at = new Date().toISOString();
  try {
    await appendAudit(
      env.DB,
      c.org,
      [
        {
          actor: "system:campaigns",
          action: "campaign.budget_low",
          entityType: "campaign",
          entityId: c.id,
          after: {
            campaign_id: c.id,
            committed,
            threshold: mark,
            budget: c.budgetAmount,
            remaining: Math.max(0, c.budgetAmount - committed),
            currency: c.currency,
          },
        },
      ],
      [
        env.DB.prepare(
          `INSERT INTO campaign_budget_low_marks (campaign_id, budget_amount, org, committed, emitted_at) VALUES (?1, ?2, ?3, ?4, ?5)
           ON CONFLICT (campaign_id, budget_amount) DO NOTHING`,
        ).bind(c.id, c.budgetAmount, c.org, committed, at),
        requireChanged(env.DB),
      ],
    );
    return true;
  } catch (err) {
    if (isGuardFailure(err)) return false; // another reward emitted it
    throw err;
  }
}
