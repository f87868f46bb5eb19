/** Request and response schemas of the campaign routes (API.md "Campaigns and events"). */
import { z } from "@hono/zod-openapi";
import { PlainText } from "../../core/openapi";
import { CAMPAIGN_STATUSES } from "../../campaigns/campaign-state";
import { MAX_RULE_LENGTH } from "../../campaigns/rules";
import { SKIP_REASONS } from "../../events/outcomes";
import { Amount } from "../../settings/settings.schema";

const Rule = z
  .string()
  .min(1)
  .max(MAX_RULE_LENGTH)
  .refine((r) => r.trim() !== "", "a rule cannot be blank")
  .openapi({ description: "A CEL condition over `event` and `customer`", example: "event.properties.total >= 5000" });
const EventType = z
  .string()
  .min(1, "an event type cannot be empty")
  .max(100)
  .regex(/^[A-Za-z0-9_.:-]*$/, "letters, digits and . _ : -") // empty: min(1) says so
  .openapi({ example: "order.paid" });
const Period = z.enum(["day", "week", "month", "lifetime"]);
const Cap = z.strictObject({ count: z.number().int().min(1).max(1_000_000_000).optional(), amount: Amount.optional(), period: Period });
const SegmentId = z.string().min(1).max(64);

// `{ event }`, or one of the kinds told apart by `kind`: a bad trigger's error points at the field of
// the shape it is closest to (`/trigger/kind`, `/trigger/days`, `/trigger/event`: src/core/router.ts).
export const Trigger = z
  .union([
    z.strictObject({ event: EventType }),
    z.discriminatedUnion("kind", [
      z.strictObject({
        kind: z.literal("date_attribute"),
        attribute: z
          .string()
          .min(1)
          .max(64)
          .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, "an attribute name: letters, digits and _ . - (not starting with a digit)")
          .openapi({ example: "birthday", description: "A customer attribute holding a date (`YYYY-MM-DD…` or `--MM-DD`): fires on its month-day" }),
      }),
      z.strictObject({
        kind: z.literal("inactivity"),
        days: z
          .number()
          .int()
          .min(1)
          .max(3650)
          .openapi({ description: "Fires once per inactivity period, when a customer's last event is this many days old" }),
      }),
      z.strictObject({
        kind: z.literal("schedule"),
        cron: z
          .string()
          .min(9)
          .max(100)
          .openapi({ example: "0 9 * * 1", description: "5-field cron expression, read in the org's time_zone (`0 9 * * MON#1`: first Monday)" }),
        segment_id: SegmentId,
      }),
      z.strictObject({
        kind: z.literal("segment_entered"),
        segment_id: SegmentId,
        include_existing: z.boolean().optional().openapi({
          description:
            "Also reward the customers already inside the segment when the campaign is activated (default false: only entries after activation count)",
        }),
      }),
    ]),
  ])
  .openapi("CampaignTrigger", {
    description:
      "`{ event }` fires on POST /v1/events; `date_attribute`, `inactivity` and `schedule` fire from the five-minute cron tick (src/schedules/), each customer once per occurrence; `segment_entered` fires once per entry of a customer into the org's segment `segment_id` (src/customers/README.md)",
  });

const Tier = z.strictObject({ when: Rule, amount: Amount });
/** When a `card_credit` reward's bonus expires (see src/events/card-credits.ts `creditExpiry`). */
export const CreditExpiry = z
  .union([
    z.strictObject({
      at_local_time: z
        .string()
        .max(8)
        .regex(/^(([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?|24:00(:00)?)$/, "HH:MM or HH:MM:SS, 00:00–24:00")
        .openapi({
          example: "24:00",
          description:
            "The first time at or after the event's occurred_at when the clock in the customer's time_zone (else the org's) reads this: `24:00` or `23:59:59` is the end of the event's local day (\"by midnight\")",
        }),
    }),
    z.strictObject({ after_hours: z.number().int().min(1).max(8760).openapi({ description: "Hours after the event's occurred_at" }) }),
    z.strictObject({ at: z.iso.datetime({ offset: true }).openapi({ maxLength: 40, description: "A fixed instant (in the future when saved)" }) }),
  ])
  .openapi("CampaignCreditExpiry");
export const Reward = z
  .strictObject({
    kind: z.enum(["card", "card_credit"]).optional().openapi({
      description:
        "Addition. `card` (default): a reward of the product, delivered. `card_credit`: a bonus credit onto the customer's existing stored-value card in the campaign's currency, expiring per `expires` (src/campaigns/README.md)",
    }),
    product_id: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .openapi({ description: "Required for `card`; for `card_credit`, optional: only cards of this stored-value product are credited" }),
    channel: z.enum(["email", "sms", "link"]).openapi({ description: "For `card_credit`, where the customer is told of the credit: `email` or `sms`" }),
    amount: Amount.optional(),
    tiers: z.array(Tier).min(1).max(20).optional().openapi({ description: "First tier whose `when` is true gives its amount; none true → skipped rule_false" }),
    expires_after_days: z.number().int().min(1).max(3650).optional().openapi({
      description: "Stored-value products only: the cards this campaign issues expire this many days after issue (instead of the product's validity)",
    }),
    expires: CreditExpiry.optional().openapi({ description: "`card_credit` only, and required there: when the bonus expires" }),
    fallback: z.enum(["issue_card"]).optional().openapi({
      description:
        "`card_credit` only: a customer without a card gets a new card of `product_id` (required then) for the amount, delivered like a card reward, instead of skipping `no_card`",
    }),
  })
  // "Exactly one" is checked with the referral block (src/campaigns/referral-spec.ts): a referral campaign's amounts are there.
  .refine((r) => r.amount === undefined || r.tiers === undefined, { message: "amount or tiers, exactly one", path: ["amount"] })
  .openapi("CampaignReward", {
    description:
      "`amount` or `tiers`, exactly one; a referral campaign pays its `referral` amounts instead (`amount`, if given, is not used; `tiers` are refused)",
  });

const Budget = z.strictObject({
  amount: Amount,
  pause_at_pct: z.number().int().min(1).max(100).optional().openapi({ description: "Pause when this % of the budget is committed (default 100)" }),
});
export const Limits = z.strictObject({ per_customer: Cap.optional(), per_campaign: Cap.optional() });
const Milestone = z.strictObject({
  every: z.number().int().min(2).max(1000).openapi({ description: "Every n-th referral of a referrer (the 5th, 10th, … for 5)" }),
  referrer_amount: Amount,
});
const Referral = z
  .strictObject({
    referrer_amount: Amount,
    referee_amount: Amount,
    per_referrer: z
      .strictObject({ count: z.number().int().min(1).max(1_000_000) })
      .optional()
      .openapi({
        description:
          "At most this many referrer rewards per referrer over the campaign's life (further referrals skip `customer_cap`; the referee is still rewarded)",
      }),
    milestones: z
      .array(Milestone)
      .min(1)
      .max(10)
      .optional()
      .openapi({ description: "Addition: the referrer's n-th referral pays the `referrer_amount` of the milestone with the largest `every` dividing n" }),
    refuse_same_email_domain: z
      .boolean()
      .optional()
      .openapi({ description: "Addition: also refuse (`self_referral`) when both sides' emails share a domain; default false" }),
  })
  .openapi("CampaignReferral", {
    description:
      'A referral campaign (trigger `{ event: "referral.converted" }`): the event\'s `customer` (referee) earns `referee_amount`, `properties.referrer` earns `referrer_amount`; self-referral skips both with `self_referral`',
  });
const Time = z.iso.datetime({ offset: true }).openapi({ maxLength: 40 });

const fields = {
  name: PlainText(200),
  trigger: Trigger,
  rules: Rule.optional(),
  reward: Reward,
  pool_id: z.string().min(1).max(64),
  budget: Budget,
  limits: Limits.optional(),
  approval: z.strictObject({ at_or_above: Amount }).optional(),
  starts_at: Time.optional(),
  ends_at: Time.optional(),
  owner_email: z.email().max(254).optional(),
  referral: Referral.optional(),
};
export const CreateCampaign = z.strictObject(fields).openapi("CreateCampaign");
export type CreateCampaign = z.infer<typeof CreateCampaign>;

/** PATCH: any field of the create body; `null` clears an optional one. The pool and currency stay. */
export const PatchCampaign = z
  .strictObject({
    name: fields.name.optional(),
    trigger: Trigger.optional(),
    rules: Rule.nullable().optional(),
    reward: Reward.optional(),
    budget: z
      .strictObject({ pause_at_pct: z.number().int().min(1).max(100) })
      .optional()
      .openapi({ description: "Only the threshold: the amount grows by POST /budget" }),
    limits: Limits.nullable().optional(),
    approval: z.strictObject({ at_or_above: Amount }).nullable().optional(),
    starts_at: Time.nullable().optional(),
    ends_at: Time.nullable().optional(),
    owner_email: z.email().max(254).nullable().optional(),
    referral: Referral.nullable().optional(),
  })
  .openapi("PatchCampaign");
export type PatchCampaign = z.infer<typeof PatchCampaign>;

export const TopUp = z.strictObject({ amount: Amount }).openapi("CampaignTopUp");

const N = z.number().int().min(0);
export const CampaignSchema = z
  .object({
    id: z.string().openapi({ example: "cmp_01jd..." }),
    status: z.enum(CAMPAIGN_STATUSES),
    name: z.string(),
    trigger: Trigger,
    rules: z.string().nullable(),
    reward: z.object({
      kind: z.enum(["card", "card_credit"]),
      product_id: z.string().nullable(),
      channel: z.enum(["email", "sms", "link"]),
      amount: N.optional(),
      tiers: z.array(z.object({ when: z.string(), amount: N })).optional(),
      expires_after_days: N.optional(),
      expires: CreditExpiry.optional(),
      fallback: z.enum(["issue_card"]).optional(),
    }),
    referral: Referral.nullable().openapi({ description: "Null unless a referral campaign" }),
    pool_id: z.string(),
    currency: z.string(),
    budget: z
      .object({ amount: N, pause_at_pct: N, committed: N, reserved: N, remaining: N })
      .openapi({ description: "committed: rewards paid from it; reserved: still held in the pool; remaining: amount − committed" }),
    limits: Limits,
    approval: z.object({ at_or_above: N }).nullable(),
    starts_at: z.string().nullable(),
    ends_at: z.string().nullable(),
    owner_email: z.string().nullable(),
    paused_reason: z.string().nullable().openapi({ description: "budget_threshold, budget_exhausted, or manual" }),
    counts: z
      .object({
        events: N,
        matched: N,
        rewarded: N,
        pending_approval: N,
        rejected: N.openapi({ description: "Rewards refused at approval (their value went back to the budget)" }),
        skipped: z.record(z.enum(SKIP_REASONS), N),
      })
      .openapi({
        description:
          "events: events evaluated by this campaign (a referral event counts once); the other counts are outcomes — one per event, or one per side (referee, referrer) for a referral campaign. matched: passed status, window, contact and rules (rewarded, pending, rejected, or stopped by a cap or the budget)",
      }),
    spend_by_day: z.array(z.object({ day: z.string(), amount: N, rewards: N })),
    created_by: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Campaign");

export const ApprovalDay = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" }, example: "cmp_01J..." }),
  day: z.iso.date().openapi({ param: { name: "day", in: "path" }, example: "2026-12-07", maxLength: 10 }),
});
export const ApprovalDecision = z
  .strictObject({ decision: z.enum(["approve", "reject"]), comment: z.string().max(1000).optional() })
  .openapi("CampaignApprovalDecision");
export const ApprovalRequests = z
  .object({
    data: z.array(
      z.object({
        day: z.string(),
        status: z.enum(["open", "approved", "rejected"]),
        decided_by: z.string().nullable(),
        decided_at: z.string().nullable(),
        comment: z.string().nullable(),
        currency: z.string(),
        pending: z.array(
          z.object({
            event_id: z.string(),
            side: z.enum(["referee", "referrer"]).optional().openapi({ description: "A referral campaign's side (two rewards of one event)" }),
            amount: N,
            external_id: z.string().nullable(),
            created_at: z.string(),
          }),
        ),
        decided: z.array(
          z.object({ event_id: z.string(), side: z.enum(["referee", "referrer"]).optional(), amount: N, outcome: z.enum(["approved", "rejected"]) }),
        ),
        round: N.openapi({ description: "The request's round: approvals count within one round" }),
        decisions: z.array(
          z.object({
            step: N.openapi({ description: "The step's index in the org's approval policy" }),
            role: z.string(),
            approver_sub: z.string(),
            decision: z.enum(["approve", "reject"]),
            comment: z.string().nullable(),
            via: z.enum(["link", "api"]),
            decided_at: z.string(),
          }),
        ),
      }),
    ),
  })
  .openapi("CampaignApprovalRequests");
export const ApprovalResult = z
  .object({
    day: z.string(),
    decision: z.enum(["approve", "reject"]),
    outcome: z.enum(["recorded", "step_completed", "approved", "rejected"]),
    rewards: N.openapi({ description: "Rewards approved or rejected by this decision (0 while steps remain)" }),
    total: N,
    step: z.object({ number: N, of: N, role: z.string(), quorum: N }).openapi({ description: "The step this decision was recorded for" }),
  })
  .openapi("CampaignApprovalResult");
