/** GET /v1/batches/{id}/approvals: the steps the batch was submitted under, who decided when, and the trail. */
import type { BatchStatus } from "../batches/batch-state";
import { requireBatch } from "../batches/batches.service";
import type { Env } from "../env";
import type { ApprovalPolicy, FlowStep } from "./policy";
import { findFlow, flowSteps, listDecisions, listRequests, type DecisionRow, type FlowRow, type RequestRow } from "./store";

const TRAIL_ACTIONS = ["batch.submitted", "batch.approved", "batch.rejected", "batch.cancelled", "batch.expired", "batch.released", "batch.hold_released"];
const TRAIL_LIMIT = 500;

export type StepStatus = "waiting" | "pending" | "approved" | "rejected" | "closed" | "skipped";

function stepStatus(flow: FlowRow, step: FlowStep, decisions: DecisionRow[]): StepStatus {
  if (decisions.some((d) => d.step === step.index && d.decision === "reject")) return "rejected";
  if (step.index < flow.currentStep) return "approved";
  if (step.index > flow.currentStep) return flow.state === "open" ? "waiting" : "skipped";
  if (flow.state === "open") return "pending";
  return flow.state === "approved" || flow.state === "released" ? "approved" : "closed";
}

const requestView = (r: RequestRow) => ({
  id: r.id,
  approver_sub: r.approverSub,
  approver_email: r.approverEmail,
  enrolment_id: r.enrolmentId,
  status: r.status,
  email_status: r.emailStatus,
  email_error: r.emailError,
  created_at: r.createdAt,
  expires_at: r.expiresAt,
  opened_at: r.openedAt,
  used_at: r.usedAt,
});

const decisionView = (d: DecisionRow) => ({
  id: d.id,
  approver_sub: d.approverSub,
  decision: d.decision,
  comment: d.comment,
  via: d.via,
  request_id: d.requestId,
  decided_at: d.createdAt,
});

async function trail(d1: D1Database, org: string, batchId: string) {
  const { results } = await d1
    .prepare(
      `SELECT action, actor, created_at, after FROM audit_events
       WHERE org = ?1 AND entity_id = ?2 AND (action LIKE 'approval.%' OR action IN (SELECT value FROM json_each(?3)))
       ORDER BY seq LIMIT ?4`,
    )
    .bind(org, batchId, JSON.stringify(TRAIL_ACTIONS), TRAIL_LIMIT)
    .all<{ action: string; actor: string; created_at: string; after: string | null }>();
  return results.map((e) => ({
    action: e.action,
    actor: e.actor,
    at: e.created_at,
    details: e.after ? (JSON.parse(e.after) as Record<string, unknown>) : null,
  }));
}

export async function approvalsView(env: Env, org: string, batchId: string) {
  const batch = await requireBatch(env.DB, org, batchId);
  const [flow, events] = await Promise.all([findFlow(env.DB, org, batchId), trail(env.DB, org, batchId)]);
  if (!flow) return { batch_id: batch.id, status: batch.status as BatchStatus, submission: null, steps: [], trail: events };
  const [requests, decisions] = await Promise.all([listRequests(env.DB, batchId), listDecisions(env.DB, batchId)]);
  const steps = flowSteps(flow).map((s) => {
    const own = decisions.filter((d) => d.step === s.index);
    return {
      index: s.index,
      role: s.role,
      quorum: s.quorum,
      min_total: s.min_total,
      status: stepStatus(flow, s, decisions),
      approvals: own.filter((d) => d.decision === "approve").length,
      decisions: own.map(decisionView),
      requests: requests.filter((r) => r.step === s.index).map(requestView),
    };
  });
  const snapshot = JSON.parse(flow.policy) as { policy: ApprovalPolicy };
  return {
    batch_id: batch.id,
    status: batch.status as BatchStatus,
    submission: {
      state: flow.state,
      current_step: flow.currentStep,
      submitted_by: flow.submittedBy,
      submitted_at: flow.submittedAt,
      closed_at: flow.closedAt,
      content_hash: flow.contentHash,
      auto_release: flow.autoRelease,
      release_at: batch.releaseAt,
      policy: snapshot.policy,
      hold: { id: flow.holdId, amount: flow.holdAmount, expires_at: flow.holdExpiresAt, released_at: flow.holdReleasedAt },
    },
    steps,
    trail: events,
  };
}

export type ApprovalsView = Awaited<ReturnType<typeof approvalsView>>;
