/**
 * The in-memory part of a decision per pair: status, window, contact, suppression, rules and amount
 * (fixed or first matching tier), the org's per-recipient cap, and the customers' history in the
 * campaigns for the rules that read it. Split out of evaluate.ts; see there for the whole flow.
 */
import { rewardOf } from "../campaigns/campaigns.service";
import type { CampaignRow } from "../campaigns/campaign-state";
import { evaluateRule, type RuleContext } from "../campaigns/rules";
import { reachable } from "./customer";
import type { EventFacts } from "./evaluate";
import type { SkipReason } from "./outcomes";
import type { Pair } from "./pairs";
import { needsNumber, sideAmount } from "./referral";

/** A rule that reads the customer's history in the campaign needs it read first; most rules do not. */
const HISTORY = /\b(rewards_received|rewarded_amount)\b/;
export const needsHistory = (c: CampaignRow) => HISTORY.test(`${c.rules ?? ""} ${c.reward}`);

/**
 * The in-memory part of a decision: everything but the referrer's number, the org's cap, caps and
 * budget. A skip, or the amount (`referral_number`: the referrer's depends on their referral's number).
 */
export function decide(
  p: Pair,
  history: Map<string, { n: number; total: number }>,
): { skip: { reason: SkipReason; detail?: string } } | { amount: number | "referral_number" } {
  const { c, ev } = p;
  const skip = (reason: SkipReason, detail?: string) => ({ skip: { reason, detail } });
  if (c.status === "draft" || c.status === "ended") return skip("campaign_not_active");
  if (c.status === "paused") return skip("campaign_paused");
  if ((c.startsAt && ev.occurredAt < c.startsAt) || (c.endsAt && ev.occurredAt >= c.endsAt)) return skip("outside_window");
  if (p.refusal) return skip(p.refusal.reason, p.refusal.detail);
  const reward = rewardOf(c);
  if (!reachable(ev.customer, reward.channel))
    return skip(
      "invalid_contact",
      `No valid ${reward.channel === "sms" ? "phone" : reward.channel === "email" ? "email" : "email or phone"} for channel ${reward.channel}`,
    );
  if (p.suppressed) return skip("suppressed");
  const ctx = ruleContext(ev, history.get(`${c.id}\n${ev.customer.key}`));
  if (c.rules) {
    const r = evaluateRule(c.rules, ctx);
    if (!r.ok) return skip("rule_false", `Rule error: ${r.error}`);
    if (!r.value) return skip("rule_false");
  }
  if (p.referral && p.side) {
    if (p.side === "referrer" && needsNumber(p.referral)) return { amount: "referral_number" };
    return { amount: sideAmount(p.referral, p.side) };
  }
  let amount = reward.amount;
  for (const tier of reward.tiers ?? []) {
    const r = evaluateRule(tier.when, ctx);
    if (r.ok && r.value) {
      amount = tier.amount;
      break;
    }
  }
  if (amount === undefined) return skip("rule_false", "No tier matched");
  return { amount };
}

/** The org's per-recipient cap on a decided amount, and whether it waits for approval. */
export function priced(p: Pair, amount: number, perRecipientCaps: Record<string, number>): Pick<Pair, "skip" | "claim"> {
  const { c } = p;
  const orgCap = perRecipientCaps[c.currency];
  if (orgCap !== undefined && amount > orgCap)
    return { skip: { reason: "customer_cap", detail: `Above the org's per-recipient cap of ${orgCap} ${c.currency}` } };
  return { claim: { amount, pending: c.approvalAtOrAbove !== null && amount >= c.approvalAtOrAbove } };
}

/**
 * Rewards each customer received from each campaign (for rules that read them): one query for the
 * request, through (campaign_id, customer_key); the unary `+` keeps the planner off the
 * (campaign_id, outcome) index, which would walk every reward of the campaign.
 */
export async function historyOf(d1: D1Database, pairs: Pair[]): Promise<Map<string, { n: number; total: number }>> {
  if (pairs.length === 0) return new Map();
  const keys = [...new Set(pairs.map((p) => JSON.stringify([p.c.id, p.ev.customer.key])))].map((k) => JSON.parse(k) as [string, string]);
  const { results } = await d1
    .prepare(
      `SELECT j.value ->> 0 AS campaign_id, j.value ->> 1 AS customer_key, COUNT(o.id) AS n, COALESCE(SUM(o.amount), 0) AS total
       FROM json_each(?) j JOIN campaign_outcomes o ON o.campaign_id = j.value ->> 0 AND o.customer_key = j.value ->> 1
         AND +o.outcome IN ('rewarded', 'pending_approval')
       GROUP BY j.key`,
    )
    .bind(JSON.stringify(keys))
    .all<{ campaign_id: string; customer_key: string; n: number; total: number }>();
  return new Map(results.map((r) => [`${r.campaign_id}\n${r.customer_key}`, { n: r.n, total: r.total }]));
}

/** What a rule sees: the event, and the customer with their history in this campaign. */
function ruleContext(ev: EventFacts, h: { n: number; total: number } | undefined): RuleContext {
  const cu = ev.customer.input;
  return {
    event: { type: ev.type, occurred_at: ev.occurredAt, properties: ev.properties },
    customer: {
      external_id: cu.external_id,
      email: ev.customer.email ?? "",
      phone: ev.customer.phone ?? "",
      name: cu.name ?? "",
      country: cu.country ?? "",
      attributes: cu.attributes ?? {},
      rewards_received: h?.n ?? 0,
      rewarded_amount: h?.total ?? 0,
    },
  };
}
