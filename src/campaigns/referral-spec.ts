/**
 * The `referral` block of a campaign (API.md "Campaigns and events"; the milestones and the email
 * domain setting are additions, see README.md): what each side earns, the referrer's cap, and the
 * milestone tiers. Stored inside the campaign's `reward` JSON; read here, checked here when a
 * campaign is created or edited, paid by src/events/referral.ts.
 */
import { AppError, type FieldError } from "../core/errors";
import type { CampaignRow } from "./campaign-state";

export interface Milestone {
  /** Every `every`-th referral of a referrer (the 5th, 10th, … for 5) pays `referrer_amount` instead. */
  every: number;
  referrer_amount: number;
}

export interface ReferralSpec {
  referrer_amount: number;
  referee_amount: number;
  per_referrer?: { count: number };
  milestones?: Milestone[];
  /** Also refuse (self_referral) when both sides' emails share a domain. Off by default: webmail domains are shared by strangers. */
  refuse_same_email_domain?: boolean;
}

/** The event type API.md names for referral campaigns: a campaign triggered by it must say what each side earns. */
export const REFERRAL_EVENT = "referral.converted";

export const referralOf = (c: Pick<CampaignRow, "reward">): ReferralSpec | null => (JSON.parse(c.reward) as { referral?: ReferralSpec }).referral ?? null;

interface Shape {
  trigger: { event: string } | { kind: string };
  reward: { amount?: number; tiers?: unknown[] };
  referral: ReferralSpec | null;
}

/**
 * Cross-field checks of a campaign's trigger, reward and referral, on the whole campaign as it will
 * be stored (a PATCH is checked merged with what is kept): 400 with a pointer to each problem.
 */
export function checkCampaignShape(s: Shape): void {
  const errors: FieldError[] = [];
  const bad = (pointer: string, detail: string) => errors.push({ pointer, code: "invalid", detail });
  const eventType = "event" in s.trigger ? s.trigger.event : null;
  if (!s.referral) {
    if (eventType === REFERRAL_EVENT) bad("/referral", `A campaign triggered by ${REFERRAL_EVENT} needs referral: { referrer_amount, referee_amount }`);
    if ((s.reward.amount === undefined) === (s.reward.tiers === undefined)) bad("/reward/amount", "amount or tiers, exactly one");
  } else {
    if (eventType === null) bad("/trigger", `A referral campaign is triggered by an event: { event: "${REFERRAL_EVENT}" }`);
    // Any other event has no referrer to pay: the block would reward a second side that does not exist.
    else if (eventType !== REFERRAL_EVENT)
      bad("/referral", `referral belongs to a campaign triggered by { event: "${REFERRAL_EVENT}" }; this one is triggered by ${eventType}`);
    if (s.reward.tiers !== undefined)
      bad("/reward/tiers", "A referral campaign pays referral.referee_amount and referral.referrer_amount (and milestones), not tiers");
    const seen = new Set<number>();
    s.referral.milestones?.forEach((m, i) => {
      if (seen.has(m.every)) bad(`/referral/milestones/${i}/every`, `Another milestone is already every ${m.every}`);
      seen.add(m.every);
    });
  }
  if (errors.length) throw new AppError("validation_failed", errors.map((e) => `${e.pointer}: ${e.detail}`).join("; "), { errors });
}

/** Every amount of the referral block, with its pointer (each must be within the product's range). */
export function referralAmounts(r: ReferralSpec): (readonly [string, number])[] {
  return [
    ["/referral/referee_amount", r.referee_amount] as const,
    ["/referral/referrer_amount", r.referrer_amount] as const,
    ...(r.milestones ?? []).map((m, i) => [`/referral/milestones/${i}/referrer_amount`, m.referrer_amount] as const),
  ];
}

/** The referrer's amount for their n-th referral: the milestone with the largest `every` that divides n, else the base amount. */
export function referrerAmountFor(r: ReferralSpec, n: number): number {
  let best: Milestone | null = null;
  for (const m of r.milestones ?? []) if (n % m.every === 0 && (!best || m.every > best.every)) best = m;
  return best ? best.referrer_amount : r.referrer_amount;
}
