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
 *
 * The steps: pairs.ts (the pairs, their ids, what an earlier run recorded), decide.ts (the in-memory
 * decision and the history rules read), claim.ts (the pool calls), record.ts (the D1 transaction).
 */
import { openApprovalRequest } from "../campaigns/approvals";
import { isCardCredit, rewardOf } from "../campaigns/campaigns.service";
import type { CampaignRow } from "../campaigns/campaign-state";
import type { Env } from "../env";
import { committedCampaignItems } from "../pools/campaign-budget";
import { creditCards, findCards } from "./card-credits";
import { claim } from "./claim";
import type { Customer } from "./customer";
import { decide, historyOf, needsHistory, priced } from "./decide";
import type { OutcomeView } from "./outcomes";
import { groupBy, itemOf, itemsOf, type Pair, pairsOf, priorOutcomes, push, viewOf, sideOf } from "./pairs";
import { record } from "./record";
import { referrerAmounts, type SideName } from "./referral";

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

/** Where a skip's detail is kept in the event's skip_details: the campaign id, with the side for a referral's. */
export const detailKey = (campaignId: string, side?: SideName | null): string => (side ? `${campaignId}/${side}` : campaignId);

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
