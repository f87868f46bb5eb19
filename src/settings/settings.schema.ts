/**
 * The org settings document: one strict zod schema that PUT validates as a whole, that GET
 * answers with defaults filled in, and that batch validation and approvals read. Approvers are not
 * settings (an admin must not be able to type approval authority): see src/approvers/.
 */
import { z } from "@hono/zod-openapi";
import { isCountry, isCurrency } from "../core/iso-codes";
import { isTimeZone } from "../core/time-zones";
import { ROLES } from "../env";

export const Amount = z.number().int().positive().max(Number.MAX_SAFE_INTEGER).openapi({ format: "int64" });
export const CountryCode = z
  .string()
  .refine(isCountry, "an ISO 3166-1 alpha-2 code such as US")
  .openapi({ example: "US", description: "ISO 3166-1 alpha-2", pattern: "^[A-Z]{2}$", minLength: 2, maxLength: 2 });
export const CurrencyCode = z
  .string()
  .refine(isCurrency, "an ISO 4217 code such as USD")
  .openapi({ example: "USD", description: "ISO 4217", pattern: "^[A-Z]{3}$", minLength: 3, maxLength: 3 });

const ApprovalStep = z.strictObject({
  role: z.enum(ROLES),
  quorum: z.number().int().min(1).max(10).default(1).openapi({ description: "How many distinct approvers of the role must approve" }),
  min_total: Amount.optional().openapi({ description: "The step applies only to batches whose valid total (minor units) reaches this" }),
});

export const ApprovalPolicySchema = z
  .strictObject({ steps: z.array(ApprovalStep).min(1).max(10) })
  .openapi("ApprovalPolicy", { description: "Ordered approval steps; the batch creator never approves their own batch (four-eyes)" });

/** A new org's policy: finance approves every batch, the program owner also signs off from 10,000.00. */
const TemplateText = (max: number) => z.string().min(1).max(max);
export const RewardTemplate = z
  .strictObject({
    subject: TemplateText(300),
    text: TemplateText(10_000),
    html: TemplateText(50_000).optional(),
    sms: TemplateText(500).optional(),
  })
  .refine((t) => [t.text, t.html ?? "{{code}}", t.sms ?? "{{code}}"].every((x) => x.includes("{{code}}") || x.includes("{{claim_url}}")), {
    message: "text, html and sms must each show {{code}} or {{claim_url}}",
  })
  .openapi("RewardTemplate");

export const DEFAULT_APPROVAL_POLICY = {
  steps: [
    { role: "finance" as const, quorum: 1 },
    { role: "owner" as const, quorum: 1, min_total: 1_000_000 },
  ],
};

const SettingsFields = z.strictObject({
  allowed_countries: z
    .array(CountryCode)
    .max(249)
    .nullable()
    .default(null)
    .openapi({ description: "Countries recipients may be in (null: any country the product allows)" }),
  allowed_currencies: z.array(CurrencyCode).max(200).nullable().default(null).openapi({ description: "Currencies batches may pay in (null: any)" }),
  per_recipient_caps: z
    .record(z.string().regex(/^[A-Z]{3}$/), Amount)
    .default({})
    .openapi({ description: "Most one recipient may receive in one batch, per currency (minor units); rows above are excluded", example: { USD: 50000 } }),
  prior_payout_window_days: z
    .number()
    .int()
    .min(0)
    .max(3650)
    .default(0)
    .openapi({ description: "Exclude recipients paid by another delivered batch within this many days (0: off)" }),
  expected_count_tolerance_pct: z
    .number()
    .min(0)
    .max(1000)
    .default(10)
    .openapi({ description: "Preview flags an anomaly when the valid count differs from expected_count by more than this %" }),
  approval_policy: ApprovalPolicySchema.default(DEFAULT_APPROVAL_POLICY),
  release_defaults: z
    .strictObject({ auto_release: z.boolean().default(true).openapi({ description: "Release on final approval (or at release_at)" }) })
    .default({ auto_release: true }),
  time_zone: z.string().max(64).refine(isTimeZone, "an IANA time zone such as Europe/Paris").default("UTC").openapi({
    example: "Europe/Paris",
    description:
      "The org's time zone (IANA): date triggers fire on a customer's local date in their own `time_zone`, else in this one; schedule triggers' cron expressions read in it",
  }),
  reward_template: RewardTemplate.nullable().default(null).openapi({
    description:
      "The org's reward email/SMS template (null: the built-in one). Placeholders: {{name}} {{amount}} {{product}} {{code}} {{expiry}} {{claim_url}} {{campaign}} {{fields.NAME}} (CSV template columns). Values are HTML-escaped in html and kept on one line in subject and sms.",
  }),
});

type SettingsDoc = z.output<typeof SettingsFields>;
const checkSettings = (s: SettingsDoc, ctx: z.RefinementCtx) => {
  for (const currency of Object.keys(s.per_recipient_caps)) {
    if (s.allowed_currencies && !s.allowed_currencies.includes(currency)) {
      ctx.addIssue({ code: "custom", path: ["per_recipient_caps", currency], message: `${currency} is not an allowed currency` });
    }
  }
};

export const SettingsInput = SettingsFields.superRefine(checkSettings).openapi("SettingsInput");

/**
 * PUT's body: the settings, plus what GET answers beside them, so that a read-modify-write round trip
 * works. `version`, when sent, must be the version the client read (409 `conflict` otherwise);
 * `updated_by` and `updated_at` are the server's and are ignored.
 */
export const SettingsPutBody = SettingsFields.extend({
  version: z.number().int().min(0).max(2_147_483_647).optional().openapi({ description: "The version you read; a PUT from an older one is refused (409)" }),
  updated_by: z.string().max(200).nullable().optional().openapi({ description: "Read-only; ignored" }),
  updated_at: z.string().max(40).nullable().optional().openapi({ description: "Read-only; ignored" }),
})
  .superRefine(checkSettings)
  .openapi("SettingsPut");

export type Settings = z.output<typeof SettingsInput>;

export const SettingsSchema = z
  .object({
    allowed_countries: z.array(z.string()).nullable(),
    allowed_currencies: z.array(z.string()).nullable(),
    per_recipient_caps: z.record(z.string(), z.number().int()),
    prior_payout_window_days: z.number().int(),
    expected_count_tolerance_pct: z.number(),
    approval_policy: ApprovalPolicySchema,
    release_defaults: z.object({ auto_release: z.boolean() }),
    time_zone: z.string(),
    reward_template: RewardTemplate.nullable(),
    version: z.number().int().openapi({ description: "0 until the first PUT" }),
    updated_by: z.string().nullable(),
    updated_at: z.string().nullable(),
  })
  .openapi("Settings");

export const DEFAULT_SETTINGS: Settings = SettingsInput.parse({});
