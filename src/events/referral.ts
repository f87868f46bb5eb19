/**
 * Referral campaigns: one `referral.converted` event rewards two people. Its `customer` is the
 * referee, `properties.referrer` the referrer (the same shape). Each side is evaluated by
 * evaluateCampaign as a customer of its own, with its own outcome, delivery and pool item ids
 * (derived from the event, the campaign and the side), so the campaign's budget, caps, approval
 * threshold and the event id's dedupe hold for each side, and a replay pays neither twice.
 * A self-referral refuses both sides. The referrer's referrals are numbered in the claim itself
 * (referral_numbers): the number decides the per-referrer cap and the milestone tier.
 */
import { type ReferralSpec, referrerAmountFor } from "../campaigns/referral-spec";
import type { CampaignRow } from "../campaigns/campaign-state";
import type { Env } from "../env";
import { EventCustomer } from "../routes/events/events.schemas";
import { suppressedKeys } from "../settings/suppressions.service";
import { type Customer, readCustomer } from "./customer";
import { type EventFacts, evaluateCampaign, type Shared, type Side } from "./evaluate";
import type { OutcomeView, SkipReason } from "./outcomes";

type Refusal = { reason: SkipReason; detail: string };

/** Both sides' outcomes, the referee's first: two per event for one campaign, each with its `side`. */
export async function evaluateReferral(env: Env, c: CampaignRow, ev: EventFacts, shared: Shared, spec: ReferralSpec): Promise<OutcomeView[]> {
  const parsed = EventCustomer.safeParse(ev.properties.referrer);
  const referrer = parsed.success ? readCustomer(parsed.data) : null;
  const refusal: Refusal | undefined = referrer
    ? selfReferral(ev.customer, referrer, spec)
    : { reason: "invalid_contact", detail: "properties.referrer is missing or not a customer ({ external_id, email?, phone?, ... })" };

  const referee = await evaluateCampaign(env, c, ev, shared, { name: "referee", refusal, amount: async () => spec.referee_amount });
  const referrerSide: Side = { name: "referrer", refusal, amount: () => referrerAmount(env.DB, c, ev.id, referrer!.key, spec) };
  const referrerShared = referrer && !refusal ? { ...shared, suppressed: await isSuppressed(env.DB, ev.org, referrer) } : shared;
  const forReferrer = await evaluateCampaign(env, c, { ...ev, customer: referrer ?? ev.customer }, referrerShared, referrerSide);
  return [
    { ...referee, side: "referee" },
    { ...forReferrer, side: "referrer" },
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

async function isSuppressed(d1: D1Database, org: string, c: Customer): Promise<boolean> {
  return (await suppressedKeys(d1, org, c.emailKey ? [c.emailKey] : [], c.phone ? [c.phone] : [])).size > 0;
}

/**
 * The referrer's amount for this referral. Without a cap or milestones it is `referrer_amount`;
 * with them, the referral first takes the referrer's next number (or finds the one it took in an
 * earlier run of this event): past `per_referrer.count` it skips customer_cap, and a milestone's
 * multiple pays the milestone's amount.
 */
async function referrerAmount(d1: D1Database, c: CampaignRow, eventId: string, referrerKey: string, spec: ReferralSpec) {
  if (!spec.per_referrer && !spec.milestones?.length) return spec.referrer_amount;
  const cap = spec.per_referrer?.count ?? null;
  const n = await claimNumber(d1, c.id, referrerKey, eventId, cap);
  if (n === null) return { skip: "customer_cap" as const, detail: `The referrer has had their ${cap} referral rewards (referral.per_referrer.count)` };
  return referrerAmountFor(spec, n);
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

async function claimNumber(d1: D1Database, campaignId: string, referrerKey: string, eventId: string, cap: number | null): Promise<number | null> {
  const [, found] = await d1.batch<{ seq: number }>([
    d1.prepare(CLAIM_NUMBER).bind(campaignId, referrerKey, eventId, new Date().toISOString(), cap),
    d1.prepare("SELECT seq FROM referral_numbers WHERE campaign_id = ? AND event_id = ?").bind(campaignId, eventId),
  ]);
  return found!.results[0]?.seq ?? null;
}
