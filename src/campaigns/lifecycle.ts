/**
 * Campaign lifecycle actions: activate (reserves the budget as a pool hold), pause, resume, end
 * (releases the rest once), top up, and the automatic pause when the budget reaches its threshold.
 * Every status change goes through transitionCampaign; every pool call through src/pools/campaign-budget.ts.
 */
import { and, eq, inArray } from "drizzle-orm";
import { appendAudit } from "../audit/audit";
import { sendEmail } from "../channels/email";
import { AppError } from "../core/errors";
import { isGuardFailure, requireChanged } from "../core/guard";
import { createDb } from "../db/client";
import { campaigns } from "../db/schema";
import type { Auth, Env } from "../env";
import { campaignHolds, releaseCampaignBudget, reserveCampaignHold } from "../pools/campaign-budget";
import { transitionCampaign, type CampaignRow } from "./campaign-state";
import { campaignRef, campaignView, requireCampaign } from "./campaigns.service";

/** Makes room for hold number `n` before reserving it, guarded by the version read (a racing action answers 409). */
async function claimHoldSlot(d1: D1Database, c: CampaignRow, n: number, statuses: string[]): Promise<CampaignRow> {
  const update = createDb(d1)
    .update(campaigns)
    .set({ holdCount: n + 1, stateVersion: c.stateVersion + 1 })
    .where(and(eq(campaigns.id, c.id), eq(campaigns.stateVersion, c.stateVersion), inArray(campaigns.status, statuses as CampaignRow["status"][])))
    .toSQL();
  try {
    await d1.batch([d1.prepare(update.sql).bind(...update.params), requireChanged(d1)]);
  } catch (err) {
    if (isGuardFailure(err)) throw new AppError("conflict", `Campaign ${c.id} changed while this request ran; retry`);
    throw err;
  }
  return { ...c, holdCount: n + 1, stateVersion: c.stateVersion + 1 };
}

export async function activateCampaign(env: Env, auth: Auth, id: string, requestId?: string) {
  let c = await requireCampaign(env.DB, auth.org, id);
  if (c.status !== "draft")
    throw new AppError("invalid_state_transition", `Campaign ${id} is ${c.status}; only a draft can be activated (a paused one resumes)`, {
      campaign_status: c.status,
    });
  if (c.holdCount === 0) c = await claimHoldSlot(env.DB, c, 0, ["draft"]);
  const hold = await reserveCampaignHold(env, campaignRef(c), 0, c.budgetAmount, auth.sub);
  await transitionCampaign(env.DB, {
    campaign: c,
    to: "active",
    action: "campaign.activated",
    actor: auth.sub,
    requestId,
    details: { hold_id: hold.hold_id, reserved: hold.amount },
  });
  return campaignView(env, await requireCampaign(env.DB, auth.org, id));
}

export async function topUpCampaign(env: Env, auth: Auth, id: string, amount: number, requestId?: string) {
  const c = await requireCampaign(env.DB, auth.org, id);
  if (c.status !== "active" && c.status !== "paused") {
    throw new AppError("invalid_state_transition", `Campaign ${id} is ${c.status}; only an active or paused campaign can be topped up`, {
      campaign_status: c.status,
    });
  }
  if (c.budgetAmount + amount > Number.MAX_SAFE_INTEGER) throw new AppError("amount_too_large", "The budget would pass 2^53−1 minor units");
  const n = c.holdCount;
  const slotted = await claimHoldSlot(env.DB, c, n, ["active", "paused"]);
  const hold = await reserveCampaignHold(env, campaignRef(slotted), n, amount, auth.sub);
  await appendAudit(
    env.DB,
    auth.org,
    [
      {
        actor: auth.sub,
        action: "campaign.topped_up",
        entityType: "campaign",
        entityId: id,
        before: { budget: c.budgetAmount },
        after: { budget: c.budgetAmount + amount, hold_id: hold.hold_id },
        requestId,
      },
    ],
    [env.DB.prepare("UPDATE campaigns SET budget_amount = budget_amount + ?2, updated_at = ?3 WHERE id = ?1").bind(id, amount, new Date().toISOString())],
  );
  return campaignView(env, await requireCampaign(env.DB, auth.org, id));
}

export async function pauseCampaign(env: Env, auth: Auth, id: string, requestId?: string) {
  const c = await requireCampaign(env.DB, auth.org, id);
  await transitionCampaign(env.DB, {
    campaign: c,
    to: "paused",
    action: "campaign.paused",
    actor: auth.sub,
    requestId,
    patch: { pausedReason: "manual" },
    details: { reason: "manual" },
  });
  return campaignView(env, await requireCampaign(env.DB, auth.org, id));
}

/** Committed value at which the campaign pauses itself. */
export const pauseThreshold = (c: CampaignRow) => Math.floor((c.budgetAmount * c.pauseAtPct) / 100);

export async function resumeCampaign(env: Env, auth: Auth, id: string, requestId?: string) {
  const c = await requireCampaign(env.DB, auth.org, id);
  if (c.status === "paused") {
    const committed = (await campaignHolds(env, campaignRef(c))).reduce((s, h) => s + h.committed, 0);
    if (committed >= pauseThreshold(c)) {
      throw new AppError(
        "invalid_state_transition",
        `Campaign ${id} has committed ${committed} of its ${c.budgetAmount} budget (pause at ${c.pauseAtPct}%); top it up or raise pause_at_pct first`,
        {
          campaign_status: c.status,
          paused_reason: c.pausedReason,
        },
      );
    }
  }
  await transitionCampaign(env.DB, { campaign: c, to: "active", action: "campaign.resumed", actor: auth.sub, requestId, patch: { pausedReason: null } });
  return campaignView(env, await requireCampaign(env.DB, auth.org, id));
}

/** Ends the campaign, then releases the rest of its budget (fixed op ids: once). Ending an ended campaign finishes an interrupted release. */
export async function endCampaign(env: Env, auth: Auth, id: string, requestId?: string) {
  let c = await requireCampaign(env.DB, auth.org, id);
  if (c.status !== "ended") {
    await transitionCampaign(env.DB, { campaign: c, to: "ended", action: "campaign.ended", actor: auth.sub, requestId });
    c = await requireCampaign(env.DB, auth.org, id);
  } else if (c.budgetReleased) {
    throw new AppError("invalid_state_transition", `Campaign ${id} has ended and its budget was released`, { campaign_status: c.status });
  }
  const released = await releaseCampaignBudget(env, campaignRef(c), auth.sub);
  await appendAudit(
    env.DB,
    auth.org,
    [{ actor: auth.sub, action: "campaign.budget_released", entityType: "campaign", entityId: id, after: { released }, requestId }],
    [env.DB.prepare("UPDATE campaigns SET budget_released = 1 WHERE id = ? AND budget_released = 0").bind(id)],
  );
  return campaignView(env, await requireCampaign(env.DB, auth.org, id));
}

/**
 * The budget reached its threshold (or ran out): active → paused with the reason, and the owner is
 * told. Many events may find this at once; the transition guard lets one of them through.
 */
export async function autoPause(env: Env, campaignId: string, org: string, reason: "budget_threshold" | "budget_exhausted"): Promise<void> {
  const c = await requireCampaign(env.DB, org, campaignId);
  if (c.status !== "active") return;
  try {
    await transitionCampaign(env.DB, {
      campaign: c,
      to: "paused",
      action: "campaign.auto_paused",
      actor: "system:campaigns",
      patch: { pausedReason: reason },
      details: { reason },
    });
  } catch (err) {
    if (err instanceof AppError && (err.code === "invalid_state_transition" || err.code === "conflict")) return;
    throw err;
  }
  if (!c.ownerEmail) return;
  const text = `Campaign "${c.name}" (${c.id}) was paused: ${reason === "budget_exhausted" ? "its budget ran out" : `it has committed ${c.pauseAtPct}% of its budget`}. Top it up (POST /v1/campaigns/${c.id}/budget) or raise pause_at_pct, then resume it.`;
  await sendEmail(env, {
    org,
    to: c.ownerEmail,
    subject: `Campaign paused: ${c.name}`,
    text,
    html: `<p>${escapeHtml(text)}</p>`,
    idempotencyKey: `campaign-paused:${c.id}:${c.stateVersion + 1}`,
  });
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
