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
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9_.:-]+$/, "letters, digits and . _ : -")
  .openapi({ example: "order.paid" });
const Period = z.enum(["day", "week", "month", "lifetime"]);
const Cap = z.strictObject({ count: z.number().int().min(1).max(1_000_000_000).optional(), amount: Amount.optional(), period: Period });
const SegmentId = z.string().min(1).max(64);

export const Trigger = z
  .union([
    z.strictObject({ event: EventType }),
    z.strictObject({ kind: z.literal("date_attribute"), attribute: z.string().min(1).max(64) }),
    z.strictObject({ kind: z.literal("inactivity"), days: z.number().int().min(1).max(3650) }),
    z.strictObject({ kind: z.literal("schedule"), cron: z.string().min(9).max(100), segment_id: SegmentId }),
    z.strictObject({
      kind: z.literal("segment_entered"),
      segment_id: SegmentId,
      include_existing: z.boolean().optional().openapi({
        description: "Also reward the customers already inside the segment when the campaign is activated (default false: only entries after activation count)",
      }),
    }),
  ])
  .openapi("CampaignTrigger", {
    description:
      "`{ event }` fires on POST /v1/events; `segment_entered` fires once per entry of a customer into the org's segment `segment_id` (src/customers/README.md); the scheduled kinds are stored and fire in a later release",
  });

const Tier = z.strictObject({ when: Rule, amount: Amount });
export const Reward = z
  .strictObject({
    product_id: z.string().min(1).max(64),
    channel: z.enum(["email", "sms", "link"]),
    amount: Amount.optional(),
    tiers: z.array(Tier).min(1).max(20).optional().openapi({ description: "First tier whose `when` is true gives its amount; none true → skipped rule_false" }),
  })
  .refine((r) => (r.amount === undefined) !== (r.tiers === undefined), { message: "amount or tiers, exactly one", path: ["amount"] })
  .openapi("CampaignReward");

const Budget = z.strictObject({
  amount: Amount,
  pause_at_pct: z.number().int().min(1).max(100).optional().openapi({ description: "Pause when this % of the budget is committed (default 100)" }),
});
export const Limits = z.strictObject({ per_customer: Cap.optional(), per_campaign: Cap.optional() });
const Referral = z.strictObject({
  referrer_amount: Amount,
  referee_amount: Amount,
  per_referrer: z.strictObject({ count: z.number().int().min(1).max(1_000_000) }).optional(),
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
  referral: Referral.optional().openapi({ description: "Stored for referral campaigns; paid in a later release" }),
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
      product_id: z.string(),
      channel: z.enum(["email", "sms", "link"]),
      amount: N.optional(),
      tiers: z.array(z.object({ when: z.string(), amount: N })).optional(),
    }),
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
          "events: evaluated by this campaign; matched: passed status, window, contact and rules (rewarded, pending, rejected, or stopped by a cap or the budget)",
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
        pending: z.array(z.object({ event_id: z.string(), amount: N, external_id: z.string().nullable(), created_at: z.string() })),
        decided: z.array(z.object({ event_id: z.string(), amount: N, outcome: z.enum(["approved", "rejected"]) })),
      }),
    ),
  })
  .openapi("CampaignApprovalRequests");
export const ApprovalResult = z.object({ day: z.string(), decision: z.enum(["approve", "reject"]), rewards: N, total: N }).openapi("CampaignApprovalResult");
