/**
 * Submit: a validated batch reserves its valid total in the pool, records the content hash that
 * approvals are bound to and the policy steps it needs (a snapshot: later policy changes never
 * alter it), moves to `submitted` and emails the first step's approvers. The hold comes first:
 * when the pool cannot cover the batch (409) nothing else has happened.
 */
import { and, eq, isNull, lt, or } from "drizzle-orm";
import { holdExpiry } from "./config";
import { contentHash } from "./content-hash";
import { abandonBatchHold, reserveBatchHold } from "../pools/batch-holds";
import { applicableSteps } from "./policy";
import { issueStepRequests } from "./requests";
import { findFlow, insertFlow, type FlowRow } from "./store";
import { AppError } from "../core/errors";
import { batches } from "../db/schema";
import type { Auth, Env } from "../env";
import { getSettings } from "../settings/settings.service";
import { HOLDING, illegalTransition, transitionBatch, type BatchRow, type BatchStatus } from "../batches/batch-state";
import { batchView, findBatch, requireBatch } from "../batches/batches.service";

function refuseUnlessSubmittable(batch: BatchRow): void {
  if (batch.status !== "validated") throw illegalTransition(batch.id, batch.status, "submitted");
  if (batch.uploadingId && (batch.uploadingUntil ?? "") > new Date().toISOString()) {
    throw new AppError("conflict", `An upload to batch ${batch.id} is still running; submit when it has finished`);
  }
  if (batch.validTotal <= 0) throw new AppError("invalid_state_transition", `Batch ${batch.id} has no valid value to pay`, { batch_status: batch.status });
}

/**
 * After a failed status change: if a cancel (or anything else) moved the batch to a status that
 * holds nothing, the hold just reserved is nobody's and goes back now. The cancel released the
 * batch's hold after its own transition, but that may have run before this submit reserved. A
 * batch still `validated` (an upload committed meanwhile) keeps the hold: a retried submit adopts
 * it, and the orphan-hold sweep releases it if nobody does. A batch another submit moved on owns it.
 */
async function settleLostHold(env: Env, batch: BatchRow): Promise<void> {
  const status = (await findBatch(env.DB, batch.org, batch.id))?.status as BatchStatus | undefined;
  if (!status || status === "validated" || HOLDING.includes(status)) return;
  // A failure here is logged, not thrown: the caller's answer is the failed transition, and the sweep retries the release.
  await abandonBatchHold(env, batch, status).catch((err) => console.error(JSON.stringify({ job: "submit.abandon-hold", batch: batch.id, error: String(err) })));
}

export async function submitBatch(env: Env, auth: Auth, id: string, origin: string, requestId?: string) {
  const batch = await requireBatch(env.DB, auth.org, id);
  refuseUnlessSubmittable(batch);
  const settings = await getSettings(env.DB, auth.org);
  const steps = applicableSteps(settings.approval_policy, batch.validTotal);
  const { fingerprint, hash } = await contentHash(env.DB, batch);
  const hold = await reserveBatchHold(env, batch, holdExpiry(env, batch.releaseAt), auth.sub);
  const now = new Date().toISOString();
  const flow: FlowRow = {
    batchId: batch.id,
    org: batch.org,
    steps: JSON.stringify(steps),
    currentStep: 0,
    state: "open",
    policy: JSON.stringify({ policy: settings.approval_policy, settings_version: settings.version, auto_release: settings.release_defaults.auto_release }),
    autoRelease: settings.release_defaults.auto_release,
    contentHash: hash,
    fingerprint,
    holdId: hold.hold_id,
    holdAmount: hold.remaining,
    holdExpiresAt: new Date(hold.expires_at).toISOString(),
    holdReleasedAt: null,
    exitActor: null,
    submittedBy: auth.sub,
    submittedAt: now,
    closedAt: null,
    updatedAt: now,
  };
  // The recipients hashed above must still be the batch's: same content version, no upload running.
  const guard = and(eq(batches.contentVersion, batch.contentVersion), or(isNull(batches.uploadingId), lt(batches.uploadingUntil, now)));
  try {
    await transitionBatch(env.DB, {
      batch,
      to: "submitted",
      action: "batch.submitted",
      actor: auth.sub,
      requestId,
      guard,
      extra: [insertFlow(env.DB, flow)],
      details: {
        hold_id: hold.hold_id,
        reserved: hold.remaining,
        hold_expires_at: flow.holdExpiresAt,
        content_hash: hash,
        steps,
        auto_release: flow.autoRelease,
      },
    });
  } catch (err) {
    await settleLostHold(env, batch);
    throw err;
  }
  const submitted = await requireBatch(env.DB, auth.org, id);
  await issueStepRequests({ env, batch: submitted, flow: (await findFlow(env.DB, auth.org, id))!, origin, requestId });
  return batchView(submitted);
}
