/** Campaigns: create, edit (draft or paused), read with budget and counts, list. */
import { and, desc, eq, lt } from "drizzle-orm";
import { appendAudit } from "../audit/audit";
import { AppError, notFound, type FieldError } from "../core/errors";
import { isGuardFailure, requireChanged } from "../core/guard";
import { newId } from "../core/ids";
import { decodeCursor, encodeCursor } from "../core/pagination";
import { createDb } from "../db/client";
import { campaigns } from "../db/schema";
import type { Auth, Env } from "../env";
import { requireProduct } from "../catalog/products.service";
import { requirePool } from "../pools/pools.service";
import { campaignHolds } from "../pools/campaign-budget";
import type { CreateCampaign, PatchCampaign } from "../routes/campaigns/campaigns.schemas";
import { EDITABLE, type CampaignRow, type CampaignStatus } from "./campaign-state";
import { campaignCounts, spendByDay } from "./campaign-stats";
import { checkCampaignShape, type ReferralSpec, referralAmounts, referralOf } from "./referral-spec";
import { checkRule } from "./rules";
import { parseCron } from "../schedules/occurrences";
import { scheduleStatement } from "../schedules/schedule-store";
import { getSettings } from "../settings/settings.service";

/** When a `card_credit` reward's bonus expires (src/events/card-credits.ts `creditExpiry`). */
export type CreditExpiry = { at_local_time: string } | { after_hours: number } | { at: string };

export interface RewardSpec {
  /** `card` (default): a reward of the product, delivered; `card_credit`: a bonus onto the customer's existing card. */
  kind?: "card" | "card_credit";
  /** Always set for `card`; for `card_credit`, restricts the cards credited to this product. */
  product_id?: string;
  channel: "email" | "sms" | "link";
  amount?: number;
  tiers?: { when: string; amount: number }[];
  expires_after_days?: number;
  expires?: CreditExpiry;
  /** `card_credit` only: a customer without a card gets a new card of `product_id` instead of skipping `no_card`. */
  fallback?: "issue_card";
}
export interface CapSpec {
  count?: number;
  amount?: number;
  period: "day" | "week" | "month" | "lifetime";
}
export interface LimitsSpec {
  per_customer?: CapSpec;
  per_campaign?: CapSpec;
}

export const rewardOf = (c: CampaignRow) => JSON.parse(c.reward) as RewardSpec;
export const isCardCredit = (r: Pick<RewardSpec, "kind">) => r.kind === "card_credit";
export const limitsOf = (c: CampaignRow) => JSON.parse(c.limits) as LimitsSpec;
export const campaignRef = (c: CampaignRow) => ({ id: c.id, poolId: c.poolId, holdCount: c.holdCount, endsAt: c.endsAt });

/** Every rule of the campaign compiles and type-checks, else 400 with the pointer and position of each problem. */
function checkRules(rules: string | null | undefined, reward: RewardSpec | undefined): void {
  const errors: FieldError[] = [];
  if (rules) {
    const e = checkRule(rules, "/rules");
    if (e) errors.push(e);
  }
  reward?.tiers?.forEach((t, i) => {
    const e = checkRule(t.when, `/reward/tiers/${i}/when`);
    if (e) errors.push(e);
  });
  if (errors.length) throw new AppError("validation_failed", errors.map((e) => e.detail).join("; "), { errors });
}

/**
 * A scheduled trigger's cron parses and fires, and its segment is the org's (400 with a pointer).
 * Returns the org's time zone, which the schedule's occurrences are computed in.
 */
/** A scheduled trigger's cron parses in the org's zone; a `schedule` or `segment_entered` trigger names one of the org's segments. Returns the org's zone. */
async function checkTrigger(d1: D1Database, org: string, trigger: CreateCampaign["trigger"]): Promise<string> {
  const zone = (await getSettings(d1, org)).time_zone;
  if ("kind" in trigger && trigger.kind === "schedule") parseCron(trigger.cron, zone);
  if ("kind" in trigger && (trigger.kind === "schedule" || trigger.kind === "segment_entered")) {
    const segment = await d1.prepare("SELECT id FROM segments WHERE org = ? AND id = ?").bind(org, trigger.segment_id).first();
    if (!segment) {
      const detail = `No segment ${trigger.segment_id} in this org`;
      throw new AppError("validation_failed", `/trigger/segment_id: ${detail}`, { errors: [{ pointer: "/trigger/segment_id", code: "not_found", detail }] });
    }
  }
  return zone;
}

function checkWindow(startsAt: string | null | undefined, endsAt: string | null | undefined): void {
  if (startsAt && endsAt && Date.parse(endsAt) <= Date.parse(startsAt)) {
    throw new AppError("validation_failed", "ends_at must be after starts_at", {
      errors: [{ pointer: "/ends_at", code: "invalid", detail: "ends_at must be after starts_at" }],
    });
  }
}

/**
 * A `card_credit` reward: `expires` (required, and only there), a channel that can carry the notice
 * (email or sms), no cards' `expires_after_days`, and neither a referral block nor an approval
 * threshold (a pending credit has no card to wait on yet: not supported). 400 with the pointer.
 */
function checkCreditShape(reward: RewardSpec, referral: ReferralSpec | null, approvalAtOrAbove: number | null): void {
  const errors: FieldError[] = [];
  const bad = (pointer: string, detail: string) => errors.push({ pointer, code: "invalid", detail });
  if (!isCardCredit(reward)) {
    if (reward.expires !== undefined)
      bad("/reward/expires", 'Only a card_credit reward expires this way; cards use expires_after_days (or kind: "card_credit")');
    if (!reward.product_id) bad("/reward/product_id", "A card reward names its product");
    if (reward.fallback !== undefined) bad("/reward/fallback", "Only a card_credit reward falls back to issuing a card");
  } else {
    if (reward.expires === undefined) bad("/reward/expires", "A card_credit reward says when the bonus expires: { at_local_time } | { after_hours } | { at }");
    else if ("at" in reward.expires && Date.parse(reward.expires.at) <= Date.now()) bad("/reward/expires/at", "The expiry is already past");
    if (reward.channel === "link") bad("/reward/channel", "A card_credit reward tells the customer by email or sms");
    if (reward.fallback && !reward.product_id) bad("/reward/product_id", "fallback: issue_card needs the product of the card to issue");
    if (reward.expires_after_days !== undefined) bad("/reward/expires_after_days", "A card_credit reward issues no card; its bonus expires per reward.expires");
    if (referral) bad("/referral", "A referral campaign issues cards; card_credit is not supported there");
    if (approvalAtOrAbove !== null) bad("/approval", "Approval thresholds are not supported for card_credit rewards");
  }
  if (errors.length) throw new AppError("validation_failed", errors.map((e) => `${e.pointer}: ${e.detail}`).join("; "), { errors });
}

/** The reward's product exists, pays in the pool's currency, and every amount (a referral's too) is within its range. */
async function checkReward(d1: D1Database, org: string, reward: RewardSpec, currency: string, referral: ReferralSpec | null): Promise<void> {
  const bad = (pointer: string, detail: string) => new AppError("validation_failed", detail, { errors: [{ pointer, code: "invalid", detail }] });
  if (isCardCredit(reward) && !reward.fallback) {
    // A credit is bonus value on a card already issued: the product's issuing range does not apply.
    if (!reward.product_id) return;
    const product = await requireProduct(d1, org, reward.product_id);
    if (product.kind !== "stored_value") throw bad("/reward/product_id", "Only stored-value cards take credits; this product is inventory codes");
    if (product.currency !== currency) throw bad("/reward/product_id", `The product pays in ${product.currency}; the pool is ${currency}`);
    return;
  }
  // A card reward, or a credit that may issue a card instead (fallback): the product's range applies.
  const product = await requireProduct(d1, org, reward.product_id!);
  if (isCardCredit(reward) && product.kind !== "stored_value")
    throw bad("/reward/product_id", "Only stored-value cards take credits; this product is inventory codes");
  if (product.currency !== currency) throw bad("/reward/product_id", `The product pays in ${product.currency}; the pool is ${currency}`);
  if (reward.expires_after_days !== undefined && product.kind !== "stored_value")
    throw bad("/reward/expires_after_days", "Only stored-value cards have an expiry the campaign sets; this product is inventory codes");
  const amounts = referral
    ? referralAmounts(referral)
    : reward.tiers
      ? reward.tiers.map((t, i) => [`/reward/tiers/${i}/amount`, t.amount] as const)
      : [["/reward/amount", reward.amount!] as const];
  for (const [pointer, amount] of amounts) {
    if (amount < product.minAmount || amount > product.maxAmount)
      throw bad(pointer, `${amount} is outside the product's range ${product.minAmount}–${product.maxAmount}`);
  }
}

/**
 * The event type a campaign listens to (`campaigns.trigger_event`): the type of an `{ event }`
 * trigger, `segment_entered/<segment id>` for a segment's entries (a `/` no posted event type can
 * hold, so only src/customers/segment-entries.ts raises it), null for the scheduled kinds.
 */
export function triggerEventOf(trigger: CreateCampaign["trigger"]): string | null {
  if ("event" in trigger) return trigger.event;
  if (trigger.kind === "segment_entered") return `segment_entered/${trigger.segment_id}`;
  return null;
}

export async function createCampaign(env: Env, auth: Auth, input: CreateCampaign, requestId?: string) {
  checkRules(input.rules, input.reward);
  checkCampaignShape({ trigger: input.trigger, reward: input.reward, referral: input.referral ?? null });
  checkWindow(input.starts_at, input.ends_at);
  checkCreditShape(input.reward, input.referral ?? null, input.approval?.at_or_above ?? null);
  const pool = await requirePool(env.DB, auth.org, input.pool_id);
  await checkReward(env.DB, auth.org, input.reward, pool.currency, input.referral ?? null);
  const zone = await checkTrigger(env.DB, auth.org, input.trigger);
  const now = new Date().toISOString();
  const row: CampaignRow = {
    id: newId("cmp"),
    org: auth.org,
    name: input.name,
    status: "draft",
    trigger: JSON.stringify(input.trigger),
    triggerEvent: triggerEventOf(input.trigger),
    rules: input.rules ?? null,
    reward: JSON.stringify({ ...input.reward, ...(input.referral ? { referral: input.referral } : {}) }),
    // A card_credit reward without a product credits any of the customer's cards in the currency: no product.
    productId: input.reward.product_id ?? "",
    channel: input.reward.channel,
    poolId: pool.id,
    currency: pool.currency,
    budgetAmount: input.budget.amount,
    pauseAtPct: input.budget.pause_at_pct ?? 100,
    limits: JSON.stringify(input.limits ?? {}),
    approvalAtOrAbove: input.approval?.at_or_above ?? null,
    startsAt: input.starts_at ? new Date(input.starts_at).toISOString() : null,
    endsAt: input.ends_at ? new Date(input.ends_at).toISOString() : null,
    ownerEmail: input.owner_email ?? null,
    pausedReason: null,
    holdCount: 0,
    budgetReleased: 0,
    stateVersion: 0,
    createdBy: auth.sub,
    createdAt: now,
    updatedAt: now,
  };
  const insert = createDb(env.DB).insert(campaigns).values(row).toSQL();
  await appendAudit(
    env.DB,
    auth.org,
    [
      {
        actor: auth.sub,
        action: "campaign.created",
        entityType: "campaign",
        entityId: row.id,
        after: { status: "draft", name: row.name, budget: row.budgetAmount },
        requestId,
      },
    ],
    [env.DB.prepare(insert.sql).bind(...insert.params), scheduleStatement(env.DB, auth.org, row.id, input.trigger, Date.parse(now), zone)],
  );
  return campaignView(env, row);
}

export async function findCampaign(d1: D1Database, org: string, id: string): Promise<CampaignRow | null> {
  const [row] = await createDb(d1)
    .select()
    .from(campaigns)
    .where(and(eq(campaigns.org, org), eq(campaigns.id, id)))
    .limit(1);
  return row ?? null;
}

export async function requireCampaign(d1: D1Database, org: string, id: string): Promise<CampaignRow> {
  const row = await findCampaign(d1, org, id);
  if (!row) throw notFound("campaign", id);
  return row;
}

/** PATCH: draft or paused only; guarded by the version read, so a racing change answers 409. */
export async function patchCampaign(env: Env, auth: Auth, id: string, input: PatchCampaign, requestId?: string) {
  const c = await requireCampaign(env.DB, auth.org, id);
  if (!EDITABLE.includes(c.status as CampaignStatus)) {
    throw new AppError("invalid_state_transition", `Campaign ${id} is ${c.status}; it can only be edited while draft or paused`, { campaign_status: c.status });
  }
  checkRules(input.rules, input.reward);
  const startsAt = input.starts_at === undefined ? c.startsAt : input.starts_at && new Date(input.starts_at).toISOString();
  const endsAt = input.ends_at === undefined ? c.endsAt : input.ends_at && new Date(input.ends_at).toISOString();
  checkWindow(startsAt, endsAt);
  // Trigger, reward and referral are checked together as they will be stored (the referral lives in the reward's JSON).
  const { referral: storedReferral, ...storedReward } = JSON.parse(c.reward) as RewardSpec & { referral?: ReferralSpec };
  const reward = input.reward ?? storedReward;
  // Once activated, rewards may be committed and waiting (approval, delivery) under the kind and
  // product they were granted with: those stay fixed (a paused campaign may change amounts, tiers, channel).
  if (input.reward && c.status !== "draft") {
    const fixed = (field: "kind" | "product_id", detail: string) =>
      new AppError("validation_failed", detail, { errors: [{ pointer: `/reward/${field}`, code: "immutable", detail }] });
    if ((input.reward.kind ?? "card") !== (storedReward.kind ?? "card"))
      throw fixed("kind", "A campaign's reward kind cannot change once it has been activated; end it and create another");
    if ((input.reward.product_id ?? "") !== (storedReward.product_id ?? ""))
      throw fixed("product_id", "A campaign's product cannot change once it has been activated; end it and create another");
  }
  const referral = input.referral === undefined ? (storedReferral ?? null) : input.referral;
  checkCampaignShape({ trigger: input.trigger ?? JSON.parse(c.trigger), reward, referral });
  checkCreditShape(reward, referral, input.approval === undefined ? c.approvalAtOrAbove : (input.approval?.at_or_above ?? null));
  if (input.reward || input.referral) await checkReward(env.DB, auth.org, reward, c.currency, referral);
  const zone = input.trigger ? await checkTrigger(env.DB, auth.org, input.trigger) : null;
  const set: Partial<CampaignRow> = { updatedAt: new Date().toISOString(), stateVersion: c.stateVersion + 1, startsAt, endsAt };
  if (input.name !== undefined) set.name = input.name;
  if (input.trigger) {
    set.trigger = JSON.stringify(input.trigger);
    set.triggerEvent = triggerEventOf(input.trigger);
  }
  if (input.rules !== undefined) set.rules = input.rules;
  if (input.reward || input.referral !== undefined) {
    set.reward = JSON.stringify({ ...reward, ...(referral ? { referral } : {}) });
    set.productId = reward.product_id ?? "";
    set.channel = reward.channel;
  }
  if (input.budget) set.pauseAtPct = input.budget.pause_at_pct;
  if (input.limits !== undefined) set.limits = JSON.stringify(input.limits ?? {});
  if (input.approval !== undefined) set.approvalAtOrAbove = input.approval?.at_or_above ?? null;
  if (input.owner_email !== undefined) set.ownerEmail = input.owner_email;
  const update = createDb(env.DB)
    .update(campaigns)
    .set(set)
    .where(and(eq(campaigns.id, c.id), eq(campaigns.org, c.org), eq(campaigns.stateVersion, c.stateVersion)))
    .toSQL();
  try {
    await appendAudit(
      env.DB,
      auth.org,
      [{ actor: auth.sub, action: "campaign.updated", entityType: "campaign", entityId: c.id, after: { fields: Object.keys(input) }, requestId }],
      [
        env.DB.prepare(update.sql).bind(...update.params),
        requireChanged(env.DB),
        ...(input.trigger ? [scheduleStatement(env.DB, auth.org, c.id, input.trigger, Date.now(), zone!)] : []),
      ],
    );
  } catch (err) {
    if (isGuardFailure(err)) throw new AppError("conflict", `Campaign ${id} changed while this request ran; read it again`);
    throw err;
  }
  return campaignView(env, (await findCampaign(env.DB, auth.org, id))!);
}

export async function getCampaign(env: Env, org: string, id: string) {
  return campaignView(env, await requireCampaign(env.DB, org, id));
}

export async function listCampaigns(env: Env, org: string, limit: number, cursor?: string) {
  const before = cursor ? decodeCursor(cursor, "cmp") : undefined;
  const rows = await createDb(env.DB)
    .select()
    .from(campaigns)
    .where(and(eq(campaigns.org, org), before ? lt(campaigns.id, before) : undefined))
    .orderBy(desc(campaigns.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  return { data: await Promise.all(page.map((r) => campaignView(env, r))), next_cursor: rows.length > limit ? encodeCursor("cmp", page.at(-1)!.id) : null };
}

/** The campaign as the API shows it: budget from the pool's holds (the authority), counts from its outcomes. */
export async function campaignView(env: Env, c: CampaignRow) {
  const holds = c.holdCount > 0 ? await campaignHolds(env, campaignRef(c)) : [];
  const committed = holds.reduce((s, h) => s + h.committed, 0);
  const reserved = holds.reduce((s, h) => s + (h.state === "pending" ? h.remaining : 0), 0);
  const reward = rewardOf(c);
  return {
    id: c.id,
    status: c.status as CampaignStatus,
    name: c.name,
    trigger: JSON.parse(c.trigger),
    rules: c.rules,
    reward: {
      kind: reward.kind ?? "card",
      product_id: reward.product_id ?? null,
      channel: reward.channel,
      ...(reward.tiers ? { tiers: reward.tiers } : { amount: reward.amount }),
      ...(reward.expires_after_days ? { expires_after_days: reward.expires_after_days } : {}),
      ...(reward.expires ? { expires: reward.expires } : {}),
      ...(reward.fallback ? { fallback: reward.fallback } : {}),
    },
    referral: referralOf(c),
    pool_id: c.poolId,
    currency: c.currency,
    budget: { amount: c.budgetAmount, pause_at_pct: c.pauseAtPct, committed, reserved, remaining: Math.max(0, c.budgetAmount - committed) },
    limits: limitsOf(c),
    approval: c.approvalAtOrAbove === null ? null : { at_or_above: c.approvalAtOrAbove },
    starts_at: c.startsAt,
    ends_at: c.endsAt,
    owner_email: c.ownerEmail,
    paused_reason: c.pausedReason,
    counts: await campaignCounts(env.DB, c.id),
    spend_by_day: await spendByDay(env.DB, c.id),
    created_by: c.createdBy,
    created_at: c.createdAt,
    updated_at: c.updatedAt,
  };
}
