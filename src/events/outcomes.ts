/** What a campaign can decide about an event, and why it skipped one (API.md, exact strings). */
export const SKIP_REASONS = [
  "rule_false",
  "customer_cap",
  "campaign_cap",
  "budget_exhausted",
  "campaign_paused",
  "campaign_not_active",
  "outside_window",
  "suppressed",
  "invalid_contact",
  "self_referral",
  // Addition: a card_credit reward found no active card of the customer in the campaign's currency (src/events/card-credits.ts).
  "no_card",
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];
export type Outcome = "rewarded" | "pending_approval" | "skipped";

export interface OutcomeView {
  campaign_id: string;
  outcome: Outcome;
  reason?: SkipReason;
  delivery_id?: string;
  /** A `card_credit` reward: the customer's card credited and the credit (its bonus bucket `bonus:<credit id>`). */
  card_id?: string;
  credit_id?: string;
  amount?: number;
  /** Referral campaigns only: which side this outcome rewards (two outcomes per event). */
  side?: "referee" | "referrer";
}
