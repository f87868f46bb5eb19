/**
 * The pairs a request evaluates: each event with each campaign its type triggers (a referral
 * campaign's two sides apart), their fixed ids (outcome row, delivery, pool item), and what an
 * earlier run recorded for them. Split out of evaluate.ts; see there for the whole flow.
 */
import { sha256HexSync } from "../core/crypto";
import { isCardCredit, rewardOf } from "../campaigns/campaigns.service";
import type { CampaignRow } from "../campaigns/campaign-state";
import { referralOf, type ReferralSpec } from "../campaigns/referral-spec";
import { suppressedKeys } from "../settings/suppressions.service";
import type { EventFacts, Evaluation } from "./evaluate";
import { creditIdFor, creditPoolItem } from "./card-credits";
import type { OutcomeView, SkipReason } from "./outcomes";
import { type Refusal, referralSides, type SideName } from "./referral";

export interface Pair {
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

export interface StoredOutcome {
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
export const itemOf = (p: Pick<Pair, "c" | "outcomeId" | "deliveryId" | "issueCard">): string =>
  isCardCredit(rewardOf(p.c)) && !p.issueCard ? creditPoolItem(creditIdFor(p.outcomeId)) : p.deliveryId;
/** The items a re-run looks for: a credit that may have fallen back to a card was committed under one of two. */
export const itemsOf = (p: Pair): string[] => (rewardOf(p.c).fallback === "issue_card" ? [itemOf(p), p.deliveryId] : [itemOf(p)]);

/** The events' pairs with the campaigns they trigger; a referral campaign's two sides, the referee's first. */
export async function pairsOf(d1: D1Database, org: string, evaluations: Evaluation[]): Promise<Pair[]> {
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

export const sideOf = (p: Pair): Pick<OutcomeView, "side"> => (p.side ? { side: p.side } : {});

export async function priorOutcomes(d1: D1Database, ids: string[]): Promise<Map<string, StoredOutcome>> {
  if (ids.length === 0) return new Map();
  const { results } = await d1
    .prepare(
      "SELECT id, outcome, reason, amount, delivery_id, approval_day, side, card_id, credit_id, credit_expires_at FROM campaign_outcomes WHERE id IN (SELECT value FROM json_each(?))",
    )
    .bind(JSON.stringify(ids))
    .all<StoredOutcome>();
  return new Map(results.map((r) => [r.id, r]));
}

export function viewOf(campaignId: string, o: StoredOutcome): OutcomeView {
  const side = o.side ? { side: o.side } : {};
  if (o.outcome === "rewarded" && o.credit_id)
    return { campaign_id: campaignId, outcome: "rewarded", card_id: o.card_id!, credit_id: o.credit_id, amount: o.amount! };
  if (o.outcome === "rewarded") return { campaign_id: campaignId, ...side, outcome: "rewarded", delivery_id: o.delivery_id!, amount: o.amount! };
  if (o.outcome === "pending_approval") return { campaign_id: campaignId, ...side, outcome: "pending_approval", amount: o.amount! };
  return { campaign_id: campaignId, ...side, outcome: "skipped", reason: o.reason as SkipReason };
}

export function groupBy<T>(list: T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const t of list) push(m, key(t), t);
  return m;
}

export function push<T>(m: Map<string, T[]>, k: string, v: T): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}
