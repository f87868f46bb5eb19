/**
 * Claiming the decided rewards in the pool: one call to the pool Durable Object per campaign (in
 * parallel) decides caps, pause threshold and budget race-free (src/pools/campaign-budget.ts), then
 * notes a crossed budget-low mark and pauses the campaign when its budget or threshold is reached.
 * Split out of evaluate.ts; see there for the whole flow.
 */
import { campaignRef, limitsOf, type CapSpec } from "../campaigns/campaigns.service";
import { autoPause, pauseThreshold } from "../campaigns/lifecycle";
import type { Env } from "../env";
import { claimCampaignRewards } from "../pools/campaign-budget";
import { noteBudgetLow } from "../webhooks/budget-low";
import { periodWindow } from "./caps";
import type { SkipReason } from "./outcomes";
import { groupBy, itemOf, type Pair, sideOf } from "./pairs";

/** A cap's window key for the pool's counters, e.g. `day:2026-12-07T00:00:00.000Z`; null when there is no such cap. */
function capPeriod(cap: CapSpec | undefined, occurredAt: string): string | null {
  if (!cap || (cap.count === undefined && cap.amount === undefined)) return null;
  return cap.period === "lifetime" ? "lifetime" : `${cap.period}:${periodWindow(cap.period, occurredAt).from}`;
}

/** One pool call per campaign (in parallel): caps, threshold and budget for all of its rewards in this request. */
export async function claim(env: Env, pairs: Pair[]): Promise<void> {
  await Promise.all(
    [...groupBy(pairs, (p) => p.c.id).values()].map(async (list) => {
      const c = list[0]!.c;
      const limits = limitsOf(c);
      const res = await claimCampaignRewards(env, campaignRef(c), {
        caps: {
          perCustomer: limits.per_customer && { count: limits.per_customer.count, amount: limits.per_customer.amount },
          perCampaign: limits.per_campaign && { count: limits.per_campaign.count, amount: limits.per_campaign.amount },
        },
        stopAt: pauseThreshold(c),
        items: list.map((p) => ({
          id: itemOf(p),
          amount: p.claim!.amount,
          customerKey: p.ev.customer.key,
          customerPeriod: capPeriod(limits.per_customer, p.ev.occurredAt),
          campaignPeriod: capPeriod(limits.per_campaign, p.ev.occurredAt),
        })),
      });
      let exhausted = false;
      let fresh = 0;
      res.items.forEach((item, i) => {
        const p = list[i]!;
        if (item.status === "committed") fresh += item.amount;
        if (item.status !== "rejected") {
          p.claim!.amount = item.amount;
          p.view = p.claim!.pending
            ? { campaign_id: c.id, ...sideOf(p), outcome: "pending_approval", amount: item.amount }
            : p.credit
              ? { campaign_id: c.id, outcome: "rewarded", card_id: p.credit.cardId, credit_id: p.credit.creditId, amount: item.amount }
              : { campaign_id: c.id, ...sideOf(p), outcome: "rewarded", delivery_id: p.deliveryId, amount: item.amount };
          return;
        }
        const reason: SkipReason =
          item.code === "customer_cap" || item.code === "campaign_cap"
            ? item.code
            : item.code === "threshold_reached"
              ? "campaign_paused"
              : item.code === "limit_exceeded" && item.detail.includes("per-recipient")
                ? "customer_cap" // the pool's per-recipient daily limit; its pool-wide daily limit is a budget
                : "budget_exhausted";
        if (item.code === "insufficient_funds") exhausted = true;
        p.claim = undefined;
        p.skip = { reason, detail: reason === "customer_cap" || reason === "campaign_cap" ? item.detail : `${item.code}: ${item.detail}` };
      });
      // campaign.budget_low (src/webhooks/budget-low.ts) when this call's commits crossed the mark:
      // `res.committed` is the campaign's total over its holds, exact (the pool DO answers in order).
      if (fresh > 0) await noteBudgetLow(env, c, res.committed, fresh);
      if (exhausted) await autoPause(env, c.id, c.org, "budget_exhausted");
      else if (res.committed >= pauseThreshold(c)) await autoPause(env, c.id, c.org, "budget_threshold");
    }),
  );
}
