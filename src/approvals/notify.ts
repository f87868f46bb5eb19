/** Telling a batch's creator that it was rejected, by email when they enrolled and confirmed an address. */
import { appendAudit } from "../audit/audit";
import type { BatchRow } from "../batches/batch-state";
import { sendEmail } from "../channels/email";
import type { Env } from "../env";
import { rejectionEmail } from "./emails";
import { APPROVALS_ACTOR } from "./requests";
import { creatorLabel } from "./summary";

export async function notifyCreatorOfRejection(
  env: Env,
  batch: BatchRow,
  rejection: { by: string; step: number; comment: string | null },
  requestId?: string,
): Promise<void> {
  const base = { actor: APPROVALS_ACTOR, entityType: "batch", entityId: batch.id, requestId };
  const { email } = await creatorLabel(env.DB, batch);
  if (!email) {
    await appendAudit(env.DB, batch.org, [
      {
        ...base,
        action: "approval.creator_not_notified",
        after: { creator: batch.createdBy, reason: "The creator has no confirmed approver enrolment (GET /v1/approvers), so no known address" },
      },
    ]);
    return;
  }
  const message = await rejectionEmail({
    batchName: batch.name,
    batchId: batch.id,
    rejectedBy: rejection.by,
    step: rejection.step + 1,
    comment: rejection.comment,
  });
  const result = await sendEmail(env, {
    org: batch.org,
    to: email,
    idempotencyKey: `rejected:${batch.id}`,
    tags: [{ name: "category", value: "approval" }],
    ...message,
  });
  await appendAudit(env.DB, batch.org, [
    {
      ...base,
      action: result.ok ? "approval.creator_notified" : "approval.creator_notify_failed",
      after: {
        creator: batch.createdBy,
        to: email,
        ...(result.ok ? { provider_message_id: result.providerMessageId } : { error_class: result.errorClass, error: result.detail }),
      },
    },
  ]);
}
