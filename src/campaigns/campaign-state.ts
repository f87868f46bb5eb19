/**
 * The campaign lifecycle: draft → active ⇄ paused → ended (a draft may also end). Every status
 * change goes through `transitionCampaign`: checked against the table, applied with a conditional
 * UPDATE (the status the caller read must still be there), audited, in one D1 transaction. A racing
 * change makes the guard fail and nothing is written. The pool hold is reserved before `active`
 * and released after `ended`, by the callers (src/campaigns/lifecycle.ts).
 */
import { and, eq, sql } from "drizzle-orm";
import { appendAudit, type AuditInput } from "../audit/audit";
import { AppError } from "../core/errors";
import { isGuardFailure, requireChanged } from "../core/guard";
import { createDb } from "../db/client";
import { campaigns } from "../db/schema";

export const CAMPAIGN_STATUSES = ["draft", "active", "paused", "ended"] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];
export type CampaignRow = typeof campaigns.$inferSelect;

export const CAMPAIGN_TRANSITIONS: Readonly<Record<CampaignStatus, readonly CampaignStatus[]>> = {
  draft: ["active", "ended"],
  active: ["paused", "ended"],
  paused: ["active", "ended"],
  ended: [],
};

/** Statuses in which a campaign may be edited (PATCH). */
export const EDITABLE: readonly CampaignStatus[] = ["draft", "paused"];

export function canTransition(from: CampaignStatus, to: CampaignStatus): boolean {
  return CAMPAIGN_TRANSITIONS[from]?.includes(to) ?? false;
}

export function illegalTransition(id: string, from: string, to: string): AppError {
  return new AppError("invalid_state_transition", `Campaign ${id} is ${from}; it cannot become ${to}`, {
    campaign_status: from,
    allowed_next: CAMPAIGN_TRANSITIONS[from as CampaignStatus] ?? [],
  });
}

export interface CampaignTransition {
  campaign: CampaignRow;
  to: CampaignStatus;
  /** Audit action, e.g. `campaign.activated`. */
  action: string;
  actor: string;
  requestId?: string;
  patch?: Partial<Record<keyof CampaignRow, unknown>>;
  extra?: D1PreparedStatement[];
  details?: Record<string, unknown>;
}

/** Applies one status change, or throws `invalid_state_transition` (or `conflict`) and changes nothing. */
export async function transitionCampaign(d1: D1Database, t: CampaignTransition): Promise<void> {
  const { campaign, to } = t;
  const from = campaign.status as CampaignStatus;
  if (!canTransition(from, to)) throw illegalTransition(campaign.id, from, to);
  const update = createDb(d1)
    .update(campaigns)
    .set({ ...(t.patch as object), status: to, stateVersion: sql`${campaigns.stateVersion} + 1`, updatedAt: new Date().toISOString() })
    .where(and(eq(campaigns.id, campaign.id), eq(campaigns.org, campaign.org), eq(campaigns.status, from), eq(campaigns.stateVersion, campaign.stateVersion)))
    .toSQL();
  const event: AuditInput = {
    actor: t.actor,
    action: t.action,
    entityType: "campaign",
    entityId: campaign.id,
    before: { status: from },
    after: { status: to, ...t.details },
    requestId: t.requestId,
  };
  try {
    await appendAudit(d1, campaign.org, [event], [d1.prepare(update.sql).bind(...update.params), requireChanged(d1), ...(t.extra ?? [])]);
  } catch (err) {
    if (!isGuardFailure(err)) throw err;
    const current = await d1.prepare("SELECT status FROM campaigns WHERE id = ?").bind(campaign.id).first<{ status: string }>();
    if (current && current.status !== from) throw illegalTransition(campaign.id, current.status, to);
    throw new AppError("conflict", `Campaign ${campaign.id} changed while this request ran; retry`);
  }
}
