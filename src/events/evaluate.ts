/**
 * One campaign's decision about one event. In order: the campaign's status and window, the
 * customer's contact and the suppression list, the rules, the amount (fixed or first matching
 * tier), the org's per-recipient cap, then the caps and the budget, which are claimed race-free
 * (a conditional insert in D1, a commit in the pool DO). The outcome row's id is fixed per event and
 * campaign, so a re-run after a crash finds what the first run decided and finishes it.
 */
import { appendAudit } from "../audit/audit";
import { sha256Hex } from "../core/crypto";
import { campaignRef, limitsOf, rewardOf } from "../campaigns/campaigns.service";
import type { CampaignRow } from "../campaigns/campaign-state";
import { openApprovalRequest } from "../campaigns/approvals";
import { autoPause, pauseThreshold } from "../campaigns/lifecycle";
import { evaluateRule, type RuleContext } from "../campaigns/rules";
import { createForCampaignReward } from "../delivery/delivery-state";
import type { Env } from "../env";
import { noteBudgetLow } from "../webhooks/budget-low";
import { campaignHolds, commitCampaignReward } from "../pools/campaign-budget";
import { customerCapReached, insertWithinCaps, type OutcomeRow } from "./caps";
import { reachable, type Customer } from "./customer";
import type { OutcomeView, SkipReason } from "./outcomes";

export interface EventFacts {
  org: string;
  id: string;
  type: string;
  occurredAt: string;
  properties: Record<string, unknown>;
  customer: Customer;
}

export interface Shared {
  perRecipientCaps: Record<string, number>;
  suppressed: boolean;
}

/**
 * One side of a referral campaign (src/events/referral.ts): its own outcome and delivery ids, a
 * refusal decided before the contact and rule checks (self_referral), and its own amount, asked
 * for only once the rules passed (the referrer's claims the number its cap and milestone count).
 */
export interface Side {
  name: "referee" | "referrer";
  refusal?: { reason: SkipReason; detail: string };
  amount(): Promise<number | { skip: SkipReason; detail: string }>;
}

interface StoredOutcome {
  id: string;
  outcome: string;
  reason: string | null;
  amount: number | null;
  delivery_id: string | null;
  committed: number;
  approval_day: string | null;
}

/** The ids of what one campaign does with one event (one per side of a referral): outcome row, delivery, pool item. */
async function idsFor(org: string, eventId: string, campaignId: string, side?: Side["name"]) {
  const h = (await sha256Hex(`${org}\n${eventId}\n${campaignId}${side ? `\n${side}` : ""}`)).slice(0, 26);
  return { outcomeId: `out_${h}`, deliveryId: `dlv_${h}` };
}

export async function evaluateCampaign(env: Env, c: CampaignRow, ev: EventFacts, shared: Shared, side?: Side): Promise<OutcomeView> {
  const { outcomeId, deliveryId } = await idsFor(ev.org, ev.id, c.id, side?.name);
  const prior = await env.DB.prepare("SELECT id, outcome, reason, amount, delivery_id, committed, approval_day FROM campaign_outcomes WHERE id = ?")
    .bind(outcomeId)
    .first<StoredOutcome>();
  if (prior) return finish(env, c, ev, prior);
  const skip = (reason: SkipReason, detail?: string) => recordSkip(env, c, ev, outcomeId, reason, detail, side?.name);

  if (c.status === "draft" || c.status === "ended") return skip("campaign_not_active");
  if (c.status === "paused") return skip("campaign_paused");
  if ((c.startsAt && ev.occurredAt < c.startsAt) || (c.endsAt && ev.occurredAt >= c.endsAt)) return skip("outside_window");
  if (side?.refusal) return skip(side.refusal.reason, side.refusal.detail);
  const reward = rewardOf(c);
  if (!reachable(ev.customer, reward.channel))
    return skip(
      "invalid_contact",
      `No valid ${reward.channel === "sms" ? "phone" : reward.channel === "email" ? "email" : "email or phone"} for channel ${reward.channel}`,
    );
  if (shared.suppressed) return skip("suppressed");

  const ctx = await ruleContext(env, c, ev);
  if (c.rules) {
    const r = evaluateRule(c.rules, ctx);
    if (!r.ok) return skip("rule_false", `Rule error: ${r.error}`);
    if (!r.value) return skip("rule_false");
  }
  let amount = reward.amount;
  for (const tier of reward.tiers ?? []) {
    const r = evaluateRule(tier.when, ctx);
    if (r.ok && r.value) {
      amount = tier.amount;
      break;
    }
  }
  if (side) {
    const a = await side.amount();
    if (typeof a !== "number") return skip(a.skip, a.detail);
    amount = a;
  }
  if (amount === undefined) return skip("rule_false", "No tier matched");
  const orgCap = shared.perRecipientCaps[c.currency];
  if (orgCap !== undefined && amount > orgCap) return skip("customer_cap", `Above the org's per-recipient cap of ${orgCap} ${c.currency}`);

  const now = new Date().toISOString();
  const pending = c.approvalAtOrAbove !== null && amount >= c.approvalAtOrAbove;
  const row: OutcomeRow = {
    id: outcomeId,
    org: ev.org,
    campaignId: c.id,
    eventId: ev.id,
    side: side?.name ?? null,
    customerKey: ev.customer.key,
    outcome: pending ? "pending_approval" : "rewarded",
    amount,
    deliveryId,
    name: ev.customer.input.name ?? null,
    email: ev.customer.email,
    phone: ev.customer.phone,
    externalId: ev.customer.input.external_id,
    approvalDay: pending ? now.slice(0, 10) : null,
    occurredAt: ev.occurredAt,
    createdAt: now,
  };
  const limits = limitsOf(c);
  const inserted = await insertWithinCaps(env.DB, row, limits).run();
  if (inserted.meta.changes === 0) {
    const raced = await env.DB.prepare("SELECT id, outcome, reason, amount, delivery_id, committed, approval_day FROM campaign_outcomes WHERE id = ?")
      .bind(outcomeId)
      .first<StoredOutcome>();
    if (raced) return finish(env, c, ev, raced);
    return skip((await customerCapReached(env.DB, row, limits)) ? "customer_cap" : "campaign_cap");
  }
  return finish(env, c, ev, {
    id: outcomeId,
    outcome: row.outcome,
    reason: null,
    amount,
    delivery_id: deliveryId,
    committed: 0,
    approval_day: row.approvalDay,
  });
}

/** Commits a claimed reward from the budget (once: item id = delivery id) and creates its delivery; or turns it into budget_exhausted. */
async function finish(env: Env, c: CampaignRow, ev: EventFacts, o: StoredOutcome): Promise<OutcomeView> {
  if (o.outcome === "skipped") return { campaign_id: c.id, outcome: "skipped", reason: o.reason as SkipReason };
  if (!o.committed) {
    const res = await commitCampaignReward(env, campaignRef(c), { id: o.delivery_id!, amount: o.amount!, recipientKey: ev.customer.key });
    if (!res.ok) {
      await env.DB.prepare("UPDATE campaign_outcomes SET outcome = 'skipped', reason = 'budget_exhausted', detail = ?2 WHERE id = ?1 AND committed = 0")
        .bind(o.id, `${res.code}: ${res.detail}`)
        .run();
      if (res.code === "insufficient_funds") await autoPause(env, c.id, c.org, "budget_exhausted");
      return { campaign_id: c.id, outcome: "skipped", reason: "budget_exhausted" };
    }
    const stmts = [env.DB.prepare("UPDATE campaign_outcomes SET committed = 1 WHERE id = ?").bind(o.id)];
    if (o.outcome === "rewarded") stmts.push(deliveryRow(env, c, ev, o));
    // The money moved: audited with the rows that record it. Should this fail, a retry of the event re-runs this step (the commit replays).
    await appendAudit(
      env.DB,
      c.org,
      [
        {
          actor: "system:campaigns",
          action: o.outcome === "rewarded" ? "campaign.reward_committed" : "campaign.reward_pending_approval",
          entityType: "campaign",
          entityId: c.id,
          after: { event_id: ev.id, outcome_id: o.id, amount: o.amount, ...(o.outcome === "rewarded" ? { delivery_id: o.delivery_id } : {}) },
        },
      ],
      stmts,
    );
    const committed = c.holdCount > 1 ? (await campaignHolds(env, campaignRef(c))).reduce((s, h) => s + h.committed, 0) : res.hold.committed;
    await noteBudgetLow(env, c, committed, o.amount!, c.holdCount <= 1); // campaign.budget_low (src/webhooks/budget-low.ts)
    if (committed >= pauseThreshold(c)) await autoPause(env, c.id, c.org, "budget_threshold");
  } else if (o.outcome === "rewarded") {
    await deliveryRow(env, c, ev, o).run();
  }
  // Opened after the commit, so a decision never closes a request over a reward it could not see.
  if (o.outcome === "pending_approval") await openApprovalRequest(env, c, o.approval_day!);
  if (o.outcome === "pending_approval") return { campaign_id: c.id, outcome: "pending_approval", amount: o.amount! };
  return { campaign_id: c.id, outcome: "rewarded", delivery_id: o.delivery_id!, amount: o.amount! };
}

function deliveryRow(env: Env, c: CampaignRow, ev: EventFacts, o: StoredOutcome): D1PreparedStatement {
  return createForCampaignReward(env.DB, {
    id: o.delivery_id!,
    org: c.org,
    outcomeId: o.id,
    campaignId: c.id,
    eventId: ev.id,
    poolId: c.poolId,
    productId: c.productId,
    channel: c.channel,
    amount: o.amount!,
    currency: c.currency,
    at: new Date().toISOString(),
  });
}

async function recordSkip(
  env: Env,
  c: CampaignRow,
  ev: EventFacts,
  id: string,
  reason: SkipReason,
  detail?: string,
  side?: Side["name"],
): Promise<OutcomeView> {
  await env.DB.prepare(
    `INSERT OR IGNORE INTO campaign_outcomes (id, org, campaign_id, event_id, customer_key, outcome, reason, detail, external_id, occurred_at, created_at, side)
     VALUES (?1, ?2, ?3, ?4, ?5, 'skipped', ?6, ?7, ?8, ?9, ?10, ?11)`,
  )
    .bind(
      id,
      ev.org,
      c.id,
      ev.id,
      ev.customer.key,
      reason,
      detail ?? null,
      ev.customer.input.external_id,
      ev.occurredAt,
      new Date().toISOString(),
      side ?? null,
    )
    .run();
  const stored = await env.DB.prepare("SELECT id, outcome, reason, amount, delivery_id, committed, approval_day FROM campaign_outcomes WHERE id = ?")
    .bind(id)
    .first<StoredOutcome>();
  return stored && stored.outcome !== "skipped"
    ? finish(env, c, ev, stored)
    : { campaign_id: c.id, outcome: "skipped", reason: (stored?.reason ?? reason) as SkipReason };
}

/** What a rule sees: the event, and the customer with their history in this campaign. */
async function ruleContext(env: Env, c: CampaignRow, ev: EventFacts): Promise<RuleContext> {
  const h = await env.DB.prepare(
    `SELECT COUNT(*) AS n, COALESCE(SUM(amount), 0) AS total FROM campaign_outcomes
     WHERE campaign_id = ? AND customer_key = ? AND outcome IN ('rewarded', 'pending_approval')`,
  )
    .bind(c.id, ev.customer.key)
    .first<{ n: number; total: number }>();
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
