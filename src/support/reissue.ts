/**
 * Reissue policy (API.md: "operator + finance approval rules").
 *
 * - A reissue is an operator's action.
 * - Up to REISSUE_APPROVAL_THRESHOLD (minor units, in the delivery's currency) the operator's call
 *   carries it out at once (201).
 * - Above it, the operator's call records a request (202): an open exception of kind
 *   `reissue_approval` on the delivery, visible in GET /v1/exceptions. A user with the finance role
 *   who is not the requester confirms it by calling the same endpoint (201). The requester can never
 *   confirm their own request (four-eyes), even holding the finance role too; a finance user without
 *   a pending request is refused (403), and resolving the exception with cancel or accept withdraws it.
 */
import { appendAudit } from "../audit/audit";
import { AppError } from "../core/errors";
import { openExceptions } from "../exceptions/exceptions.open";
import type { Auth, Env } from "../env";
import { deliveryDetail } from "./delivery-detail";
import { requireDelivery, type DeliveryRecord } from "./delivery-store";
import { runReissue } from "./reissue-run";

export const REISSUE_APPROVAL_THRESHOLD = 10_000;
export const REISSUE_APPROVAL_KIND = "reissue_approval";

interface PendingApproval {
  id: string;
  requested_by: string;
  requested_at: string;
  reason: string;
}

async function pendingApproval(d1: D1Database, org: string, deliveryId: string): Promise<PendingApproval | null> {
  const row = await d1
    .prepare("SELECT id, data, created_at FROM exceptions WHERE org = ? AND kind = ? AND entity_id = ? AND status = 'open'")
    .bind(org, REISSUE_APPROVAL_KIND, deliveryId)
    .first<{ id: string; data: string; created_at: string }>();
  if (!row) return null;
  const data = JSON.parse(row.data) as { requested_by: string; reason: string };
  return { id: row.id, requested_by: data.requested_by, requested_at: row.created_at, reason: data.reason };
}

async function requestApproval(env: Env, auth: Auth, d: DeliveryRecord, reason: string, requestId?: string): Promise<PendingApproval> {
  const exc = openExceptions(env.DB, [
    {
      org: auth.org,
      kind: REISSUE_APPROVAL_KIND,
      severity: "medium",
      entityType: "delivery",
      entityId: d.id,
      batchId: d.batchId,
      detail: `Reissue of ${d.amount} ${d.currency} requested by ${auth.sub}; a different user with the finance role must confirm it`,
      data: { requested_by: auth.sub, reason, amount: d.amount, currency: d.currency },
    },
  ])!;
  await appendAudit(
    env.DB,
    auth.org,
    [
      {
        actor: auth.sub,
        action: "delivery.reissue_requested",
        entityType: "delivery",
        entityId: d.id,
        requestId,
        after: { amount: d.amount, currency: d.currency, reason, threshold: REISSUE_APPROVAL_THRESHOLD },
      },
    ],
    [exc],
  );
  return (await pendingApproval(env.DB, auth.org, d.id))!;
}

export type ReissueResult =
  | { status: 201; delivery: Awaited<ReturnType<typeof deliveryDetail>>; reissue_of: string }
  | { status: 202; approval: PendingApproval & { threshold: { amount: number; currency: string } }; delivery: Awaited<ReturnType<typeof deliveryDetail>> };

export async function reissueDelivery(env: Env, auth: Auth, id: string, reason: string, requestId?: string): Promise<ReissueResult> {
  const d = await requireDelivery(env.DB, auth.org, id);
  if (d.status !== "delivered") {
    throw new AppError("invalid_state_transition", `Delivery ${id} is ${d.status}; only a delivered reward can be reissued`, { delivery_status: d.status });
  }
  const isOperator = auth.roles.includes("operator");
  const done = async (approval?: PendingApproval) => {
    const newId = await runReissue(env, auth, id, {
      reason,
      requestId,
      approval: approval && { exceptionId: approval.id, requestedBy: approval.requested_by },
    });
    return { status: 201 as const, delivery: await deliveryDetail(env, auth, newId), reissue_of: id };
  };
  if (d.amount <= REISSUE_APPROVAL_THRESHOLD) {
    if (!isOperator) throw new AppError("forbidden", "A reissue is carried out by an operator");
    return done();
  }
  const pending = await pendingApproval(env.DB, auth.org, id);
  if (pending && auth.roles.includes("finance") && pending.requested_by !== auth.sub) return done(pending);
  if (pending && pending.requested_by === auth.sub && auth.roles.includes("finance")) {
    throw new AppError("self_approval_forbidden", "The requester of a reissue cannot confirm it; a different user with the finance role must (four-eyes)");
  }
  if (!isOperator) {
    throw new AppError(
      "forbidden",
      `A reissue above ${REISSUE_APPROVAL_THRESHOLD} ${d.currency} minor units must first be requested by an operator, then confirmed by finance`,
    );
  }
  const approval = pending ?? (await requestApproval(env, auth, d, reason, requestId));
  return {
    status: 202,
    approval: { ...approval, threshold: { amount: REISSUE_APPROVAL_THRESHOLD, currency: d.currency } },
    delivery: await deliveryDetail(env, auth, id),
  };
}
