/**
 * Four-eyes: everyone who shaped a batch — its creator, everyone who uploaded recipients to it, and
 * whoever submitted it — never decides on it and is never emailed a link for it. The creator is on
 * the batch row, each upload's author on its batch_uploads row (index batch_uploads_actor), the
 * submitter on the approval flow.
 */
import type { BatchRow } from "../batches/batch-state";
import { AppError } from "../core/errors";
import type { FlowRow } from "./store";

export type Shaping = "created" | "uploaded recipients to" | "submitted";

/** Who shaped the batch, and how (the first thing each did). */
export async function batchShapers(d1: D1Database, batch: BatchRow, flow: Pick<FlowRow, "submittedBy"> | null): Promise<Map<string, Shaping>> {
  const { results } = await d1.prepare("SELECT DISTINCT created_by FROM batch_uploads WHERE batch_id = ?").bind(batch.id).all<{ created_by: string }>();
  const shapers = new Map<string, Shaping>([[batch.createdBy, "created"]]);
  for (const r of results) if (!shapers.has(r.created_by)) shapers.set(r.created_by, "uploaded recipients to");
  if (flow && !shapers.has(flow.submittedBy)) shapers.set(flow.submittedBy, "submitted");
  return shapers;
}

export function assertNotShaper(shapers: Map<string, Shaping>, sub: string): void {
  const did = shapers.get(sub);
  if (did) throw new AppError("self_approval_forbidden", `You ${did} this batch, so someone else must decide on it (four-eyes).`);
}
