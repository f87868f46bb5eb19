/**
 * Referral campaigns: one `referral.converted` event rewards two people. Its `customer` is the
 * referee, `properties.referrer` the referrer (the same shape). The request's evaluation
 * (src/events/evaluate.ts `evaluateEvents`) takes each side as a customer of its own, with its own
 * outcome, delivery and pool item ids (derived from the event, the campaign and the side), so the
 * campaign's budget, caps (claimed in the pool DO with the request's other rewards), approval
 * threshold and the event id's dedupe hold for each side, and a replay pays neither twice.
 * A self-referral refuses both sides. The referrer's referrals are numbered in D1 (referral_numbers),
 * for the whole request in one batch: the number decides the per-referrer cap and the milestone tier.
 */
import { type ReferralSpec, referrerAmountFor } from "../campaigns/referral-spec";
import { EventCustomer } from "../routes/events/events.schemas";
import { type Customer, readCustomer } from "./customer";
import type { SkipReason } from "./outcomes";

export type SideName = "referee" | "referrer";
export type Refusal = { reason: SkipReason; detail: string };

/** One side of a referral: who it rewards, and a refusal decided before the contact and rule checks. */
export interface ReferralSide {
  name: SideName;
  customer: Customer;
  refusal?: Refusal;
}

/**
 * Both sides of a referral event, the referee's first. Without a referrer shaped like a customer
 * (the route refuses that; a stored payload could still lack it) both sides skip invalid_contact.
 */
export function referralSides(referee: Customer, properties: Record<string, unknown>, spec: ReferralSpec): [ReferralSide, ReferralSide] {
  const parsed = EventCustomer.safeParse(properties.referrer);
  const referrer = parsed.success ? readCustomer(parsed.data) : null;
  const refusal: Refusal | undefined = referrer
    ? selfReferral(referee, referrer, spec)
    : { reason: "invalid_contact", detail: "properties.referrer is missing or not a customer ({ external_id, email?, phone?, ... })" };
  return [
    { name: "referee", customer: referee, refusal },
    { name: "referrer", customer: referrer ?? referee, refusal },
  ];
}

/**
 * The same person on both sides: the same identity key (src/events/customer.ts), external id or
 * phone; with `refuse_same_email_domain`, also two emails of one domain.
 */
export function selfReferral(referee: Customer, referrer: Customer, spec: ReferralSpec): Refusal | undefined {
  const same =
    referee.key === referrer.key || referee.input.external_id === referrer.input.external_id || (referee.phone !== null && referee.phone === referrer.phone);
  if (same) return { reason: "self_referral", detail: "The referrer and the referee are the same customer" };
  const domain = (c: Customer) => c.emailKey?.slice(c.emailKey.lastIndexOf("@") + 1) ?? null;
  if (spec.refuse_same_email_domain && domain(referee) !== null && domain(referee) === domain(referrer)) {
    return { reason: "self_referral", detail: `The referrer and the referee share the email domain ${domain(referee)} (referral.refuse_same_email_domain)` };
  }
  return undefined;
}

/** Whether the referrer's amount needs their referral's number (a per-referrer cap or milestones). */
export const needsNumber = (spec: ReferralSpec): boolean => spec.per_referrer !== undefined || (spec.milestones?.length ?? 0) > 0;

/** A side's amount once its rules passed; the referrer's with a cap or milestones comes from `referrerAmounts`. */
export const sideAmount = (spec: ReferralSpec, side: SideName): number => (side === "referee" ? spec.referee_amount : spec.referrer_amount);

export interface NumberClaim {
  campaignId: string;
  referrerKey: string;
  eventId: string;
  spec: ReferralSpec;
}

/**
 * The referrers' amounts for these referrals (one D1 batch for the request). Each referral first
 * takes its referrer's next number (or finds the one it took in an earlier run of its event): past
 * `per_referrer.count` it skips customer_cap, and a milestone's multiple pays the milestone's amount.
 */
export async function referrerAmounts(d1: D1Database, claims: NumberClaim[]): Promise<(number | { skip: "customer_cap"; detail: string })[]> {
  if (claims.length === 0) return [];
  const at = new Date().toISOString();
  const results = await d1.batch<{ seq: number }>(
    claims.flatMap((c) => [
      d1.prepare(CLAIM_NUMBER).bind(c.campaignId, c.referrerKey, c.eventId, at, c.spec.per_referrer?.count ?? null),
      d1.prepare("SELECT seq FROM referral_numbers WHERE campaign_id = ? AND event_id = ?").bind(c.campaignId, c.eventId),
    ]),
  );
  return claims.map((c, i) => {
    const n = results[2 * i + 1]!.results[0]?.seq;
    if (n === undefined) {
      return {
        skip: "customer_cap" as const,
        detail: `The referrer has had their ${c.spec.per_referrer?.count} referral rewards (referral.per_referrer.count)`,
      };
    }
    return referrerAmountFor(c.spec, n);
  });
}

/**
 * Takes the referrer's next number unless `?5` (the cap) is reached: the last number is the first
 * entry of the referrer's primary-key range read backwards, so one index probe however many
 * referrals they made. D1 runs one statement at a time, so concurrent referrals get distinct
 * numbers and never more than the cap; the event's unique index makes it once per event.
 */
export const CLAIM_NUMBER = `INSERT OR IGNORE INTO referral_numbers (campaign_id, referrer_key, seq, event_id, created_at)
  SELECT ?1, ?2, last + 1, ?3, ?4
  FROM (SELECT COALESCE((SELECT seq FROM referral_numbers WHERE campaign_id = ?1 AND referrer_key = ?2 ORDER BY seq DESC LIMIT 1), 0) AS last)
  WHERE ?5 IS NULL OR last < ?5`;
