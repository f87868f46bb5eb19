/**
 * Sending one delivery now, outside the queue (a reissue, or the retry of a delivery whose batch
 * has ended), and recording the outcome: the attempt, the delivery's status, an exception when
 * the send failed, and the audit events, in one transaction with the caller's own statements.
 */
import { appendAudit, type AuditInput } from "../audit/audit";
import { deliveredNow, failedNow } from "../delivery/delivery-state";
import { openExceptions } from "../exceptions/exceptions.open";
import { recordAttempts, sendRewards, type SendJob, type SendOutcome } from "../delivery/send";
import type { Env } from "../env";

export interface SendNowOptions {
  kind: "send" | "reissue";
  actor: string;
  /** The delivery's batch, or null for a campaign reward (then `campaignId`). */
  batchId: string | null;
  campaignId?: string | null;
  requestId?: string;
  /** committed flag to store when the send fails (1 when the value stays committed for a later retry). */
  committedOnFailure: 0 | 1;
  /** Statements and events that belong to the same transaction as the outcome. */
  extra?: D1PreparedStatement[];
  events?: AuditInput[];
}

const owner = (o: SendNowOptions) => (o.batchId !== null ? { batch_id: o.batchId } : { campaign_id: o.campaignId ?? null });

export async function sendNow(env: Env, job: SendJob, opts: SendNowOptions): Promise<SendOutcome> {
  const outcomes = await sendRewards(env, [job], opts.kind, opts.actor);
  const o = outcomes.get(job.deliveryId)!;
  const r = o.result;
  const now = new Date().toISOString();
  const update = r.ok
    ? deliveredNow(env.DB, job.deliveryId, o.masked, now)
    : failedNow(env.DB, job.deliveryId, `${r.errorClass}: ${r.detail}`.slice(0, 500), o.masked, opts.committedOnFailure, now);
  const exception = r.ok
    ? null
    : openExceptions(env.DB, [
        {
          org: job.org,
          kind: "delivery_failed",
          severity: "medium",
          entityType: "delivery",
          entityId: job.deliveryId,
          batchId: opts.batchId,
          detail: r.detail,
          data: { error_class: r.errorClass, attempt_kind: opts.kind },
        },
      ]);
  const outcomeEvent: AuditInput = {
    actor: opts.actor,
    action: r.ok ? "delivery.delivered" : "delivery.failed",
    entityType: "delivery",
    entityId: job.deliveryId,
    requestId: opts.requestId,
    after: r.ok
      ? { status: "delivered", attempt_no: o.attemptNo, kind: opts.kind, ...owner(opts) }
      : { status: "failed", attempt_no: o.attemptNo, kind: opts.kind, reason: `${r.errorClass}: ${r.detail}`, ...owner(opts) },
  };
  const stmts = [...(opts.extra ?? []), update, recordAttempts(env.DB, outcomes), exception].filter((s): s is D1PreparedStatement => s !== null);
  await appendAudit(env.DB, job.org, [...(opts.events ?? []), outcomeEvent], stmts);
  return o;
}
