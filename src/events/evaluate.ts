/**
 * What campaigns decide about events, for a whole request at once. Per event and campaign, in
 * order: the campaign's status and window, the customer's contact and the suppression list, the
 * rules, the amount (fixed or first matching tier) and the org's per-recipient cap are decided here
 * in memory; the caps, the pause threshold and the budget are then claimed in one call to the pool
 * Durable Object per campaign (race-free there: src/pools/campaign-budget.ts), and the outcomes,
 * deliveries and audit events are written in one D1 transaction. A request of 1,000 events costs a
 * handful of D1 statements and one pool call per triggered campaign, whatever it decides.
 *
 * The outcome and delivery ids derive from (org, event id, campaign), and the pool item is the
 * delivery id, so a re-run after a crash (a taken-over evaluation) finds what the first run wrote or
 * committed and finishes it, never paying twice.
 *
 * A referral campaign (src/events/referral.ts) evaluates each event twice, once per side, each side
 * with its own customer, ids (the side is part of the hash), outcome and pool item: both go through
 * the same checks, caps, budget and approval threshold as any reward.
 *
 * A `card_credit` campaign (src/events/card-credits.ts) credits the customer's existing card instead
 * of issuing one: its card and expiry are found before the pool call (no card: skip `no_card`), its
 * pool item is the credit's, its outcome row names card and credit, and the credit is applied to the
 * card's Durable Object after that row is written (a re-run applies it again, idempotently).
 */
import { appendAudit, type AuditInput } from "../audit/audit";
import { sha256HexSync } from "../core/crypto";
import { campaignRef, isCardCredit, limitsOf, rewardOf, type CapSpec } from "../campaigns/campaigns.service";
import type { CampaignRow } from "../campaigns/campaign-state";
import { openApprovalRequest } from "../campaigns/approvals";
import { autoPause, pauseThreshold } from "../campaigns/lifecycle";
import { referralOf, type ReferralSpec } from "../campaigns/referral-spec";
import { evaluateRule, type RuleContext } from "../campaigns/rules";
import { createForCampaignRewards } from "../delivery/delivery-state";
import type { Env } from "../env";
import { claimCampaignRewards, committedCampaignItems } from "../pools/campaign-budget";
import { suppressedKeys } from "../settings/suppressions.service";
import { noteBudgetLow } from "../webhooks/budget-low";
import { periodWindow } from "./caps";
import { reachable, type Customer } from "./customer";
import { creditCards, creditIdFor, creditPoolItem, findCards } from "./card-credits";
import type { OutcomeView, SkipReason } from "./outcomes";
import { needsNumber, type Refusal, referralSides, referrerAmounts, type SideName, sideAmount } from "./referral";

export interface EventFacts {
  org: string;
  id: string;
  type: string;
  occurredAt: string;
  properties: Record<string, unknown>;
  customer: Customer;
}

/** One event to evaluate against the campaigns its type triggers. */
export interface Evaluation {
  ev: EventFacts;
  campaigns: CampaignRow[];
  suppressed: boolean;
  /** A re-run (taken-over claim, or a caller that may repeat itself): what an earlier run wrote or committed is kept. */
  rerun: boolean;
}

export interface Evaluated {
  /** Per event id, one outcome per campaign, in the campaigns' order. */
  outcomes: Map<string, OutcomeView[]>;
  /** Per event id, the detail of each skip that has one, by `detailKey` (stored with the event's answer). */
  skipDetails: Map<string, Record<string, string>>;
  /** Rewarded deliveries to queue, by campaign (re-runs included: a lost message is sent again). */
  deliveries: Map<string, string[]>;
  /** What to add to the campaigns' counts (campaign_stats) once these answers are recorded. */
  stats: StatDelta[];
}

export interface StatDelta {
  campaign_id: string;
  key: string;
  n: number;
}

interface Pair {
  /** The event, its `customer` the side's for a referral's referrer. */
  ev: EventFacts;
  c: CampaignRow;
  suppressed: boolean;
  /** A referral campaign's side, its spec and a refusal (self_referral) decided before the other checks. */
  side?: SideName;
  referral?: ReferralSpec;
  refusal?: Refusal;
  /** Decided by an earlier run (its outcome row exists): answered as it was. */
  old?: boolean;
  approvalDay?: string | null;
  outcomeId: string;
  deliveryId: string;
  view?: OutcomeView;
  /** Set when the pair reaches the pool: its amount and whether it waits for approval. */
  claim?: { amount: number; pending: boolean };
  /** A card_credit reward's card, credit and expiry (found before the pool call, or read back from its outcome row). */
  credit?: { cardId: string; creditId: string; expiresAt: number; zone: string };
  /** A card_credit reward that found no card and issues one instead (`fallback: "issue_card"`): a card reward from here on. */
  issueCard?: boolean;
  skip?: { reason: SkipReason; detail?: string };
}

interface StoredOutcome {
  id: string;
  outcome: string;
  reason: string | null;
  amount: number | null;
  delivery_id: string | null;
  approval_day: string | null;
  side: SideName | null;
  card_id: string | null;
  credit_id: string | null;
  credit_expires_at: string | null;
}

/** The ids of what one campaign does with one event (one per side of a referral): outcome row, delivery, pool item. */
function idsFor(org: string, eventId: string, campaignId: string, side?: SideName) {
  const h = sha256HexSync(`${org}\n${eventId}\n${campaignId}${side ? `\n${side}` : ""}`).slice(0, 26);
  return { outcomeId: `out_${h}`, deliveryId: `dlv_${h}` };
}

/** The pool item a reward is committed under: its delivery, or a card_credit's credit (the item a card's reversal gives a bonus back to). */
const itemOf = (p: Pick<Pair, "c" | "outcomeId" | "deliveryId" | "issueCard">): string =>
  isCardCredit(rewardOf(p.c)) && !p.issueCard ? creditPoolItem(creditIdFor(p.outcomeId)) : p.deliveryId;
/** The items a re-run looks for: a credit that may have fallen back to a card was committed under one of two. */
const itemsOf = (p: Pair): string[] => (rewardOf(p.c).fallback === "issue_card" ? [itemOf(p), p.deliveryId] : [itemOf(p)]);

/** Where a skip's detail is kept in the event's skip_details: the campaign id, with the side for a referral's. */
export const detailKey = (campaignId: string, side?: SideName | null): string => (side ? `${campaignId}/${side}` : campaignId);

/** A rule that reads the customer's history in the campaign needs it read first; most rules do not. */
const HISTORY = /\b(rewards_received|rewarded_amount)\b/;
const needsHistory = (c: CampaignRow) => HISTORY.test(`${c.rules ?? ""} ${c.reward}`);

/** Adds to the campaigns' running counts, in one statement. */
export function addStats(d1: D1Database, deltas: StatDelta[]): D1PreparedStatement {
  return d1
    .prepare(
      `INSERT INTO campaign_stats (campaign_id, key, n) SELECT value ->> 'campaign_id', value ->> 'key', value ->> 'n' FROM json_each(?) WHERE true
       ON CONFLICT (campaign_id, key) DO UPDATE SET n = n + excluded.n`,
    )
    .bind(JSON.stringify(deltas));
}

export async function evaluateEvents(env: Env, org: string, evaluations: Evaluation[], perRecipientCaps: Record<string, number>): Promise<Evaluated> {
  const pairs = await pairsOf(env.DB, org, evaluations);
  const deliveries = new Map<string, string[]>();
  const result = (): Evaluated => {
    const outcomes = new Map<string, OutcomeView[]>(evaluations.map((e) => [e.ev.id, []]));
    const skipDetails = new Map<string, Record<string, string>>();
    const stats = new Map<string, StatDelta>();
    const count = (campaign_id: string, key: string) => {
      const k = `${campaign_id}\n${key}`;
      const d = stats.get(k) ?? { campaign_id, key, n: 0 };
      d.n += 1;
      stats.set(k, d);
    };
    for (const p of pairs) {
      outcomes.get(p.ev.id)!.push(p.view!);
      if (p.old) continue;
      // An event counts once per campaign: a referral's referrer side is the same event (its outcomes and skips count per side).
      if (p.side !== "referrer") count(p.c.id, "events");
      if (p.skip) count(p.c.id, `skipped:${p.skip.reason}`);
      if (p.skip?.detail) skipDetails.set(p.ev.id, { ...skipDetails.get(p.ev.id), [detailKey(p.c.id, p.side)]: p.skip.detail });
    }
    return { outcomes, skipDetails, deliveries, stats: [...stats.values()] };
  };
  if (pairs.length === 0) return result();

  // A re-run answers what was written before, and keeps what the pool committed even if it would now decide otherwise.
  const reruns = new Set(evaluations.filter((e) => e.rerun).map((e) => e.ev.id));
  const forced = new Map<string, number>();
  if (reruns.size > 0) {
    const again = pairs.filter((p) => reruns.has(p.ev.id));
    const prior = await priorOutcomes(
      env.DB,
      again.map((p) => p.outcomeId),
    );
    for (const p of again) {
      const o = prior.get(p.outcomeId);
      if (!o) continue;
      p.old = true;
      p.view = viewOf(p.c.id, o);
      p.approvalDay = o.approval_day;
      if (o.outcome === "rewarded" && o.credit_id) {
        p.claim = { amount: o.amount!, pending: false };
        p.credit = { cardId: o.card_id!, creditId: o.credit_id, expiresAt: Date.parse(o.credit_expires_at!), zone: "" };
      } else if (o.outcome === "rewarded") push(deliveries, p.c.id, o.delivery_id!);
    }
    const byPool = groupBy(
      again.filter((p) => !p.view),
      (p) => p.c.poolId,
    );
    for (const [poolId, list] of byPool) {
      for (const [id, amount] of await committedCampaignItems(env, poolId, list.flatMap(itemsOf))) forced.set(id, amount);
    }
  }

  const fresh = pairs.filter((p) => !p.old);
  const history = await historyOf(
    env.DB,
    fresh.filter((p) => needsHistory(p.c)),
  );
  const numbered: Pair[] = [];
  for (const p of fresh) {
    // A credit committed as a fallback card (under its delivery's id) stays one.
    if (!forced.has(itemOf(p)) && forced.has(p.deliveryId) && isCardCredit(rewardOf(p.c))) p.issueCard = true;
    const amount = forced.get(itemOf(p));
    if (amount !== undefined) p.claim = { amount, pending: p.c.approvalAtOrAbove !== null && amount >= p.c.approvalAtOrAbove };
    else {
      const d = decide(p, history);
      if ("skip" in d) p.skip = d.skip;
      else if (d.amount === "referral_number") numbered.push(p);
      else Object.assign(p, priced(p, d.amount, perRecipientCaps));
    }
  }
  // Referrers whose amount depends on their referral's number (a cap, milestones): numbered in one D1 batch.
  const amounts = await referrerAmounts(
    env.DB,
    numbered.map((p) => ({ campaignId: p.c.id, referrerKey: p.ev.customer.key, eventId: p.ev.id, spec: p.referral! })),
  );
  numbered.forEach((p, i) => {
    const a = amounts[i]!;
    Object.assign(p, typeof a === "number" ? priced(p, a, perRecipientCaps) : { skip: { reason: a.skip, detail: a.detail } });
  });

  // A card_credit reward needs the customer's card (none: no_card, nothing claimed) and its expiry.
  for (const [p, found] of await findCards(
    env,
    org,
    fresh.filter((p) => p.claim && isCardCredit(rewardOf(p.c)) && !p.issueCard),
    (p) => forced.has(itemOf(p)),
  )) {
    if ("skip" in found) {
      p.claim = undefined;
      p.skip = found.skip;
    } else if ("issueCard" in found) p.issueCard = true;
    else p.credit = found;
  }
  await claim(
    env,
    fresh.filter((p) => p.claim),
  );
  for (const p of fresh) if (p.skip) p.view = { campaign_id: p.c.id, ...sideOf(p), outcome: "skipped", reason: p.skip.reason };
  await record(
    env,
    org,
    fresh.filter((p) => p.claim),
  );
  for (const p of fresh) {
    if (p.view!.outcome === "rewarded" && !p.credit) push(deliveries, p.c.id, p.deliveryId);
  }
  await creditCards(
    env,
    org,
    pairs.filter((p) => p.credit && p.view!.outcome === "rewarded"),
  );
  // Opened after the commit, so a decision never closes a request over a reward it could not see.
  const days = new Map<string, { c: CampaignRow; day: string }>();
  for (const p of pairs) {
    if (p.view!.outcome === "pending_approval" && p.approvalDay) days.set(`${p.c.id}\n${p.approvalDay}`, { c: p.c, day: p.approvalDay });
  }
  for (const { c, day } of days.values()) await openApprovalRequest(env, c, day);
  return result();
}

/** The events' pairs with the campaigns they trigger; a referral campaign's two sides, the referee's first. */
async function pairsOf(d1: D1Database, org: string, evaluations: Evaluation[]): Promise<Pair[]> {
  const pairs: Pair[] = [];
  for (const e of evaluations) {
    for (const c of e.campaigns) {
      const referral = referralOf(c);
      if (!referral) {
        pairs.push({ ev: e.ev, c, suppressed: e.suppressed, ...idsFor(org, e.ev.id, c.id) });
        continue;
      }
      for (const side of referralSides(e.ev.customer, e.ev.properties, referral)) {
        pairs.push({
          ev: side.name === "referee" ? e.ev : { ...e.ev, customer: side.customer },
          c,
          suppressed: e.suppressed,
          side: side.name,
          referral,
          refusal: side.refusal,
          ...idsFor(org, e.ev.id, c.id, side.name),
        });
      }
    }
  }
  // The referrers' own suppression, for the request in one query (the caller checked the events' customers).
  const referrers = pairs.filter((p) => p.side === "referrer" && !p.refusal).map((p) => p.ev.customer);
  if (referrers.length > 0) {
    const suppressed = await suppressedKeys(
      d1,
      org,
      [...new Set(referrers.flatMap((cu) => (cu.emailKey ? [cu.emailKey] : [])))],
      [...new Set(referrers.flatMap((cu) => (cu.phone ? [cu.phone] : [])))],
    );
    for (const p of pairs) {
      if (p.side !== "referrer" || p.refusal) continue;
      const cu = p.ev.customer;
      p.suppressed = (cu.emailKey !== null && suppressed.has(`email:${cu.emailKey}`)) || (cu.phone !== null && suppressed.has(`phone:${cu.phone}`));
    }
  }
  return pairs;
}

const sideOf = (p: Pair): Pick<OutcomeView, "side"> => (p.side ? { side: p.side } : {});

/**
 * The in-memory part of a decision: everything but the referrer's number, the org's cap, caps and
 * budget. A skip, or the amount (`referral_number`: the referrer's depends on their referral's number).
 */
function decide(
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
function priced(p: Pair, amount: number, perRecipientCaps: Record<string, number>): Pick<Pair, "skip" | "claim"> {
  const { c } = p;
  const orgCap = perRecipientCaps[c.currency];
  if (orgCap !== undefined && amount > orgCap)
    return { skip: { reason: "customer_cap", detail: `Above the org's per-recipient cap of ${orgCap} ${c.currency}` } };
  return { claim: { amount, pending: c.approvalAtOrAbove !== null && amount >= c.approvalAtOrAbove } };
}

/** A cap's window key for the pool's counters, e.g. `day:2026-12-07T00:00:00.000Z`; null when there is no such cap. */
function capPeriod(cap: CapSpec | undefined, occurredAt: string): string | null {
  if (!cap || (cap.count === undefined && cap.amount === undefined)) return null;
  return cap.period === "lifetime" ? "lifetime" : `${cap.period}:${periodWindow(cap.period, occurredAt).from}`;
}

/** One pool call per campaign (in parallel): caps, threshold and budget for all of its rewards in this request. */
async function claim(env: Env, pairs: Pair[]): Promise<void> {
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

/** The rewards (rewarded or pending), their deliveries and one audit event per campaign: one D1 transaction. */
async function record(env: Env, org: string, pairs: Pair[]): Promise<void> {
  if (pairs.length === 0) return;
  const now = new Date().toISOString();
  const day = now.slice(0, 10);
  const rows = pairs.map((p) => {
    if (p.claim!.pending) p.approvalDay = day;
    const cu = p.ev.customer;
    return {
      id: p.outcomeId,
      campaign_id: p.c.id,
      event_id: p.ev.id,
      side: p.side ?? null,
      customer_key: cu.key,
      outcome: p.view!.outcome,
      reason: null,
      detail: null,
      amount: p.claim!.amount,
      delivery_id: p.credit ? null : p.deliveryId,
      committed: 1,
      name: cu.input.name ?? null,
      email: cu.email,
      phone: cu.phone,
      external_id: cu.input.external_id,
      approval_day: p.approvalDay ?? null,
      occurred_at: p.ev.occurredAt,
      card_id: p.credit?.cardId ?? null,
      credit_id: p.credit?.creditId ?? null,
      credit_expires_at: p.credit ? new Date(p.credit.expiresAt).toISOString() : null,
    };
  });
  const rewarded = pairs.filter((p) => p.view!.outcome === "rewarded" && !p.credit);
  const stmts = [
    env.DB.prepare(
      `INSERT OR IGNORE INTO campaign_outcomes (id, org, campaign_id, event_id, customer_key, outcome, reason, detail, amount, delivery_id, committed,
         name, email, phone, external_id, approval_day, occurred_at, created_at, side, card_id, credit_id, credit_expires_at)
       SELECT value ->> 'id', ?1, value ->> 'campaign_id', value ->> 'event_id', value ->> 'customer_key', value ->> 'outcome', value ->> 'reason',
         value ->> 'detail', value ->> 'amount', value ->> 'delivery_id', value ->> 'committed', value ->> 'name', value ->> 'email', value ->> 'phone',
         value ->> 'external_id', value ->> 'approval_day', value ->> 'occurred_at', ?2, value ->> 'side', value ->> 'card_id', value ->> 'credit_id',
         value ->> 'credit_expires_at'
       FROM json_each(?3)`,
    ).bind(org, now, JSON.stringify(rows)),
  ];
  if (rewarded.length > 0) {
    stmts.push(
      createForCampaignRewards(
        env.DB,
        org,
        now,
        rewarded.map((p) => ({
          id: p.deliveryId,
          outcomeId: p.outcomeId,
          campaignId: p.c.id,
          eventId: p.ev.id,
          poolId: p.c.poolId,
          productId: p.c.productId,
          channel: p.c.channel,
          amount: p.claim!.amount,
          currency: p.c.currency,
        })),
      ),
    );
  }
  // The money moved: audited with the rows that record it, one event per campaign and request.
  const audit: AuditInput[] = [
    ...groupBy(
      pairs.filter((p) => p.claim),
      (p) => p.c.id,
    ).values(),
  ].map((list) => ({
    actor: "system:campaigns",
    action: "campaign.reward_committed",
    entityType: "campaign",
    entityId: list[0]!.c.id,
    after: {
      rewards: list.length,
      total: list.reduce((s, p) => s + p.claim!.amount, 0),
      // [event id, pool item (a delivery id, or a card_credit's `credit:<credit id>`), amount, outcome]: arrays, so hashing the chain need not sort a thousand objects' keys.
      items: list.map((p) => [p.ev.id, itemOf(p), p.claim!.amount, p.view!.outcome]),
    },
  }));
  await appendAudit(env.DB, org, audit, stmts);
}

async function priorOutcomes(d1: D1Database, ids: string[]): Promise<Map<string, StoredOutcome>> {
  if (ids.length === 0) return new Map();
  const { results } = await d1
    .prepare(
      "SELECT id, outcome, reason, amount, delivery_id, approval_day, side, card_id, credit_id, credit_expires_at FROM campaign_outcomes WHERE id IN (SELECT value FROM json_each(?))",
    )
    .bind(JSON.stringify(ids))
    .all<StoredOutcome>();
  return new Map(results.map((r) => [r.id, r]));
}

function viewOf(campaignId: string, o: StoredOutcome): OutcomeView {
  const side = o.side ? { side: o.side } : {};
  if (o.outcome === "rewarded" && o.credit_id)
    return { campaign_id: campaignId, outcome: "rewarded", card_id: o.card_id!, credit_id: o.credit_id, amount: o.amount! };
  if (o.outcome === "rewarded") return { campaign_id: campaignId, ...side, outcome: "rewarded", delivery_id: o.delivery_id!, amount: o.amount! };
  if (o.outcome === "pending_approval") return { campaign_id: campaignId, ...side, outcome: "pending_approval", amount: o.amount! };
  return { campaign_id: campaignId, ...side, outcome: "skipped", reason: o.reason as SkipReason };
}

/**
 * Rewards each customer received from each campaign (for rules that read them): one query for the
 * request, through (campaign_id, customer_key); the unary `+` keeps the planner off the
 * (campaign_id, outcome) index, which would walk every reward of the campaign.
 */
async function historyOf(d1: D1Database, pairs: Pair[]): Promise<Map<string, { n: number; total: number }>> {
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

function groupBy<T>(list: T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const t of list) push(m, key(t), t);
  return m;
}

function push<T>(m: Map<string, T[]>, k: string, v: T): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}
