/**
 * Approval decisions with their consequences: the next step's emails, the creator told about a
 * rejection, or release on final approval (auto-release without a later release_at).
 */
import { requireBatch } from "../batches/batches.service";
import { redactTokens } from "../core/redact";
import { releaseBatch } from "./release";
import type { Env } from "../env";
import { recordDecision, type DecisionInput, type Plan } from "./decide";
import { notifyCreatorOfRejection } from "./notify";
import { issueStepRequests } from "./requests";
import { findFlow } from "./store";

export const AUTO_RELEASE_ACTOR = "system:auto-release";

export async function decide(env: Env, input: DecisionInput, origin: string): Promise<Plan> {
  const plan = await recordDecision(env, input);
  try {
    await followUp(env, input, plan, origin);
  } catch (err) {
    // The decision stands; a missed release is picked up by the cron (releaseDueBatches).
    console.error(
      JSON.stringify({
        request_id: input.requestId,
        batch_id: input.batchId,
        follow_up: plan.outcome,
        error: redactTokens(String(err)),
        stack: redactTokens(String((err as Error)?.stack)),
      }),
    );
  }
  return plan;
}

async function followUp(env: Env, input: DecisionInput, plan: Plan, origin: string): Promise<void> {
  const { org, batchId, requestId } = input;
  if (plan.outcome === "rejected") {
    await notifyCreatorOfRejection(env, plan.batch, { by: input.decider.sub, step: plan.step.index, comment: input.comment }, requestId);
  } else if (plan.outcome === "step_completed") {
    const flow = await findFlow(env.DB, org, batchId);
    if (flow) await issueStepRequests({ env, batch: plan.batch, flow, origin, requestId });
  } else if (plan.outcome === "approved" && plan.flow.autoRelease) {
    const batch = await requireBatch(env.DB, org, batchId);
    const due = !batch.releaseAt || Date.parse(batch.releaseAt) <= Date.now();
    if (due && batch.status === "approved") await releaseBatch(env, batch, AUTO_RELEASE_ACTOR, requestId);
  }
}
