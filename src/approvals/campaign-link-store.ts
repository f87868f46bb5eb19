/**
 * Approval links of the second subject, a campaign's day (`campaign_approval_links`): signed,
 * stored as a token hash with the approver's enrolment, emailed, then used once or superseded.
 * Every write of the table is built here; whether a link can decide is src/approvals/link-state.ts,
 * the day's request and its decisions are src/campaigns/approval-state.ts.
 */
import { appendAudit, type AuditInput } from "../audit/audit";
import { MAX_BATCH, sendEmailBatch, type OutgoingEmail } from "../channels/email";
import { sha256Hex } from "../core/crypto";
import { requireChanged } from "../core/guard";
import { newId } from "../core/ids";
import { createDb } from "../db/client";
import { campaignApprovalLinks } from "../db/schema";
import type { Env } from "../env";
import { linkTtlMs } from "./config";
import { campaignDayRequestEmail } from "./emails";
import type { PolicyStep } from "./policy";
import { APPROVALS_ACTOR, type StepApprover } from "./requests";
import { statement } from "./store";
import type { CampaignDaySummary } from "./summary";
import { signApprovalToken } from "./tokens";

export type CampaignLinkRow = typeof campaignApprovalLinks.$inferSelect;

const COLUMNS =
  "id, org, campaign_id, day, round, step, role, approver_sub, approver_email, enrolment_id, token_hash, fingerprint, status, expires_at, email_status, email_message_id, email_error, opened_at, used_at, created_at";

function toRow(r: Record<string, string | number | null>): CampaignLinkRow {
  return {
    id: String(r.id),
    org: String(r.org),
    campaignId: String(r.campaign_id),
    day: String(r.day),
    round: Number(r.round),
    step: Number(r.step),
    role: String(r.role),
    approverSub: String(r.approver_sub),
    approverEmail: String(r.approver_email),
    enrolmentId: r.enrolment_id as string | null,
    tokenHash: String(r.token_hash),
    fingerprint: String(r.fingerprint),
    status: r.status as CampaignLinkRow["status"],
    expiresAt: String(r.expires_at),
    emailStatus: r.email_status as CampaignLinkRow["emailStatus"],
    emailMessageId: r.email_message_id as string | null,
    emailError: r.email_error as string | null,
    openedAt: r.opened_at as string | null,
    usedAt: r.used_at as string | null,
    createdAt: String(r.created_at),
  };
}

export async function findCampaignLink(d1: D1Database, org: string, id: string): Promise<CampaignLinkRow | null> {
  const r = await d1
    .prepare(`SELECT ${COLUMNS} FROM campaign_approval_links WHERE org = ? AND id = ?`)
    .bind(org, id)
    .first<Record<string, string | number | null>>();
  return r ? toRow(r) : null;
}

export async function listCampaignLinks(d1: D1Database, campaignId: string, day: string, round: number): Promise<CampaignLinkRow[]> {
  const { results } = await d1
    .prepare(`SELECT ${COLUMNS} FROM campaign_approval_links WHERE campaign_id = ? AND day = ? AND round = ? ORDER BY created_at, id`)
    .bind(campaignId, day, round)
    .all<Record<string, string | number | null>>();
  return results.map(toRow);
}

/** Spends a link: only a pending, unexpired link can be used, once. */
export function useCampaignLink(d1: D1Database, id: string, now: string): D1PreparedStatement[] {
  return [
    d1.prepare("UPDATE campaign_approval_links SET status = 'used', used_at = ?2 WHERE id = ?1 AND status = 'pending' AND expires_at > ?2").bind(id, now),
    requireChanged(d1),
  ];
}

/** The day's pending links (of one approver, or of rounds before `beforeRound`) will say "no longer needed" from now on. */
export function supersedeCampaignLinks(
  d1: D1Database,
  campaignId: string,
  day: string,
  opts: { approverSub?: string; beforeRound?: number } = {},
): D1PreparedStatement {
  return d1
    .prepare(
      `UPDATE campaign_approval_links SET status = 'superseded' WHERE campaign_id = ?1 AND day = ?2 AND status = 'pending'
       AND (?3 IS NULL OR approver_sub = ?3) AND (?4 IS NULL OR round < ?4)`,
    )
    .bind(campaignId, day, opts.approverSub ?? null, opts.beforeRound ?? null);
}

/** Replaces one link (a renewal): only a pending link is superseded, once. */
export function supersedeCampaignLink(d1: D1Database, id: string): D1PreparedStatement[] {
  return [d1.prepare("UPDATE campaign_approval_links SET status = 'superseded' WHERE id = ?1 AND status = 'pending'").bind(id), requireChanged(d1)];
}

export function markCampaignLinkOpened(d1: D1Database, id: string, now: string): D1PreparedStatement[] {
  return [d1.prepare("UPDATE campaign_approval_links SET opened_at = ?2 WHERE id = ?1 AND opened_at IS NULL").bind(id, now), requireChanged(d1)];
}

export interface DayLinkIssue {
  env: Env;
  org: string;
  summary: CampaignDaySummary;
  round: number;
  step: PolicyStep;
  approvers: StepApprover[];
  origin: string;
  /** Statements that must hold for the links to be stored (the day still open in this round). */
  guards: D1PreparedStatement[];
  requestId?: string;
  /** Who asks (default: the approvals system) and the audit action (default `campaign.approval_requested`). */
  actor?: string;
  action?: "campaign.approval_requested" | "campaign.approval_link_renewed";
  replaces?: string;
}

/**
 * Signs, stores (one transaction with the guards and the audit event) and emails one link per
 * approver. A concurrent issue for the same approver, round and step fails the whole insert on
 * the unique index of pending links, before any email: the caller treats that as done.
 */
export async function issueCampaignDayLinks(x: DayLinkIssue): Promise<CampaignLinkRow[]> {
  const { env, summary: s, step } = x;
  const { org } = x;
  const now = Date.now();
  const expiresAt = now + linkTtlMs(env);
  const issued = await Promise.all(
    x.approvers.map(async (a) => {
      const id = newId("cal");
      const token = await signApprovalToken(
        env,
        { sub: a.sub, org, cmp: s.campaignId, day: s.day, rnd: x.round, stp: step.policyIndex, fp: s.fingerprint, jti: id },
        expiresAt,
      );
      const row: CampaignLinkRow = {
        id,
        org,
        campaignId: s.campaignId,
        day: s.day,
        round: x.round,
        step: step.policyIndex,
        role: step.role,
        approverSub: a.sub,
        approverEmail: a.email,
        enrolmentId: a.enrolmentId,
        tokenHash: await sha256Hex(token),
        fingerprint: s.fingerprint,
        status: "pending",
        expiresAt: new Date(expiresAt).toISOString(),
        emailStatus: "sending",
        emailMessageId: null,
        emailError: null,
        openedAt: null,
        usedAt: null,
        createdAt: new Date(now).toISOString(),
      };
      return { row, link: `${x.origin}/approve/${token}` };
    }),
  );
  if (issued.length === 0) return [];
  const insert = statement(
    env.DB,
    createDb(env.DB)
      .insert(campaignApprovalLinks)
      .values(issued.map((i) => i.row)),
  );
  const base = { actor: APPROVALS_ACTOR, entityType: "campaign", entityId: s.campaignId, requestId: x.requestId };
  await appendAudit(
    env.DB,
    org,
    [
      {
        ...base,
        actor: x.actor ?? APPROVALS_ACTOR,
        action: x.action ?? "campaign.approval_requested",
        after: {
          ...(x.replaces ? { replaces: x.replaces } : {}),
          day: s.day,
          round: x.round,
          step: step.policyIndex,
          role: step.role,
          quorum: step.quorum,
          fingerprint: s.fingerprint,
          links: issued.map(({ row: r }) => ({ id: r.id, approver: r.approverSub, enrolment_id: r.enrolmentId, expires_at: r.expiresAt })),
        },
      },
    ],
    [...x.guards, insert],
  );
  const sent: CampaignLinkRow[] = [];
  for (let i = 0; i < issued.length; i += MAX_BATCH) {
    const chunk = issued.slice(i, i + MAX_BATCH);
    const emails: OutgoingEmail[] = await Promise.all(
      chunk.map(async ({ row, link }) => ({
        org,
        to: row.approverEmail,
        links: [link],
        idempotencyKey: `campaign-approval:${row.id}`,
        tags: [{ name: "category", value: "approval" }],
        ...(await campaignDayRequestEmail(s, link, row.expiresAt)),
      })),
    );
    const results = await sendEmailBatch(env, emails, `campaign-approval:${s.campaignId}:${chunk[0]!.row.id}`);
    const events: AuditInput[] = chunk.map(({ row }, k) => {
      const r = results[k]!;
      return {
        ...base,
        action: r.ok ? "campaign.approval_email_sent" : "campaign.approval_email_failed",
        after: {
          link_id: row.id,
          approver: row.approverSub,
          to: row.approverEmail,
          day: s.day,
          ...(r.ok ? { provider_message_id: r.providerMessageId } : { error_class: r.errorClass, error: r.detail }),
        },
      };
    });
    await appendAudit(
      env.DB,
      org,
      events,
      chunk.map(({ row }, k) => {
        const r = results[k]!;
        return env.DB.prepare("UPDATE campaign_approval_links SET email_status = ?2, email_message_id = ?3, email_error = ?4 WHERE id = ?1").bind(
          row.id,
          r.ok ? "sent" : "failed",
          r.ok ? r.providerMessageId : null,
          r.ok ? null : r.detail,
        );
      }),
    );
    chunk.forEach(({ row }, k) => {
      const r = results[k]!;
      sent.push({ ...row, emailStatus: r.ok ? "sent" : "failed", emailMessageId: r.ok ? r.providerMessageId : null, emailError: r.ok ? null : r.detail });
    });
  }
  return sent;
}
