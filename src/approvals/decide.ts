/**
 * One decision on a submitted batch, by link or by API — the same operation. Plan, then commit:
 * the plan reads the flow and counts the step's approvals; the commit writes the decision with
 * guards that the approver has not decided, the step is still current and its count unchanged,
 * and (by link) the link is still unused. A racing decision makes the guards fail and the plan is
 * re-made, so two concurrent POSTs of one link give exactly one decision.
 */
import { appendAudit, type AuditInput } from "../audit/audit";
import { illegalTransition, transitionBatch, type BatchRow } from "../batches/batch-state";
import { requireBatch } from "../batches/batches.service";
import { AppError } from "../core/errors";
import { isGuardFailure } from "../core/guard";
import { newId } from "../core/ids";
import type { Env, Role } from "../env";
import { assertLinkApprover } from "../approvers/eligibility";
import { contentHash } from "./content-hash";
import { exitBatch } from "./exit";
import { assertLinkUsable } from "./link-state";
import type { FlowStep } from "./policy";
import { assertNotShaper, batchShapers } from "./shapers";
import {
  advanceFlow,
  closeFlow,
  findFlow,
  findRequest,
  flowSteps,
  insertDecision,
  listDecisions,
  supersedePending,
  useRequest,
  type DecisionRow,
  type FlowRow,
} from "./store";

export type Outcome = "recorded" | "step_completed" | "approved" | "rejected";

export interface DecisionInput {
  org: string;
  batchId: string;
  /** The deciding person; `roles` from their API token, absent for a link (the link binds the step). */
  decider: { sub: string; roles?: readonly Role[] };
  decision: "approve" | "reject";
  comment: string | null;
  /** By link: the request, the batch hash the token was issued for, and the enrolment it was sent under. */
  link?: { requestId: string; batchHash: string; enrolmentId: string | null };
  requestId?: string;
}

export interface Plan {
  batch: BatchRow;
  flow: FlowRow;
  steps: FlowStep[];
  step: FlowStep;
  approvalsBefore: number;
  outcome: Outcome;
}

const MAX_ATTEMPTS = 4;

async function checkDecider(env: Env, input: DecisionInput, batch: BatchRow, flow: FlowRow, step: FlowStep): Promise<void> {
  const { sub, roles } = input.decider;
  assertNotShaper(await batchShapers(env.DB, batch, flow), sub);
  if (roles && !roles.includes(step.role)) throw new AppError("forbidden", `Step ${step.index + 1} of this batch needs the ${step.role} role`);
  if (input.link) await assertLinkApprover(env.DB, batch.org, sub, step.role, input.link.enrolmentId);
  const prior = (await listDecisions(env.DB, batch.id)).find((d) => d.approverSub === sub);
  if (prior)
    throw new AppError(
      "already_decided",
      `${sub} already ${prior.decision === "approve" ? "approved" : "rejected"} this batch at step ${prior.step + 1} on ${prior.createdAt}`,
    );
}

async function plan(env: Env, input: DecisionInput): Promise<Plan> {
  const batch = await requireBatch(env.DB, input.org, input.batchId);
  const flow = await findFlow(env.DB, input.org, input.batchId);
  if (input.link) {
    const request = await findRequest(env.DB, input.org, input.link.requestId);
    if (!request || !flow) throw new AppError("approval_link_invalid", "This is not a valid approval link");
    await assertLinkUsable(env.DB, request, batch, flow, input.link.batchHash);
  }
  if (!flow || batch.status !== "submitted" || flow.state !== "open")
    throw illegalTransition(batch.id, batch.status, input.decision === "approve" ? "approved" : "rejected");
  const steps = flowSteps(flow);
  const step = steps[flow.currentStep]!;
  await checkDecider(env, input, batch, flow, step);
  if ((await contentHash(env.DB, batch)).hash !== flow.contentHash)
    throw new AppError("batch_changed", "The batch changed after it was submitted; it cannot be approved as it is.");
  const counted = await env.DB.prepare("SELECT count(*) AS n FROM approval_decisions WHERE batch_id = ? AND step = ? AND decision = 'approve'")
    .bind(batch.id, step.index)
    .first<{ n: number }>();
  const approvalsBefore = counted?.n ?? 0;
  const outcome: Outcome =
    input.decision === "reject" ? "rejected" : approvalsBefore + 1 < step.quorum ? "recorded" : step.index + 1 < steps.length ? "step_completed" : "approved";
  return { batch, flow, steps, step, approvalsBefore, outcome };
}

async function commit(env: Env, input: DecisionInput, p: Plan): Promise<void> {
  const d1 = env.DB;
  const now = new Date().toISOString();
  const { batch, step, outcome } = p;
  const decision: DecisionRow = {
    id: newId("apd"),
    org: batch.org,
    batchId: batch.id,
    step: step.index,
    approverSub: input.decider.sub,
    decision: input.decision,
    comment: input.comment,
    via: input.link ? "link" : "api",
    requestId: input.link?.requestId ?? null,
    createdAt: now,
  };
  const moves = outcome === "approved" || outcome === "rejected";
  const statements = [
    ...insertDecision(d1, decision, p.approvalsBefore, !moves),
    ...(input.link ? useRequest(d1, input.link.requestId, now) : []),
    supersedePending(d1, batch.id, input.decider.sub),
  ];
  const approvals = p.approvalsBefore + (input.decision === "approve" ? 1 : 0);
  const base = { actor: input.decider.sub, entityType: "batch", entityId: batch.id, requestId: input.requestId };
  const decided: AuditInput = {
    ...base,
    action: "approval.decided",
    after: {
      decision_id: decision.id,
      step: step.index,
      role: step.role,
      decision: input.decision,
      comment: input.comment,
      via: decision.via,
      request_id: decision.requestId,
      ...(input.link ? { enrolment_id: input.link.enrolmentId } : {}),
      approvals,
      quorum: step.quorum,
    },
  };
  const details = { step: step.index, decision_id: decision.id, comment: input.comment };
  if (outcome === "rejected") {
    await exitBatch(env, { batch, to: "rejected", actor: input.decider.sub, requestId: input.requestId, extra: statements, events: [decided], details });
  } else if (outcome === "approved") {
    await transitionBatch(d1, {
      batch,
      to: "approved",
      action: "batch.approved",
      actor: input.decider.sub,
      requestId: input.requestId,
      events: [decided],
      details,
      extra: [...statements, ...closeFlow(d1, batch.id, ["open"], "approved", now), supersedePending(d1, batch.id)],
    });
  } else if (outcome === "step_completed") {
    const completed: AuditInput = {
      ...base,
      action: "approval.step_completed",
      after: { step: step.index, role: step.role, approvals, next_step: step.index + 1 },
    };
    await appendAudit(d1, batch.org, [decided, completed], [...statements, ...advanceFlow(d1, batch.id, step.index, now), supersedePending(d1, batch.id)]);
  } else {
    await appendAudit(d1, batch.org, [decided], statements);
  }
}

const raced = (err: unknown) => isGuardFailure(err) || (err instanceof AppError && (err.code === "conflict" || err.code === "invalid_state_transition"));

/** Records the decision; returns the plan it committed. Effects (emails, release) are the caller's. */
export async function recordDecision(env: Env, input: DecisionInput): Promise<Plan> {
  for (let attempt = 1; ; attempt++) {
    const p = await plan(env, input);
    try {
      await commit(env, input, p);
      return p;
    } catch (err) {
      if (!raced(err) || attempt >= MAX_ATTEMPTS) throw err;
    }
  }
}
