/**
 * The batch lifecycle (DESIGN.md "Batch lifecycle"). Every status change of a batch goes through
 * `transitionBatch`: the move is checked against the table below, applied with a conditional
 * UPDATE (the status the caller read must still be there), recorded in `batch_transitions` and
 * audited, all in one D1 transaction. A racing change makes the guard fail and nothing is written.
 */
import { and, eq, sql, type SQL } from "drizzle-orm";
import { appendAudit, type AuditInput } from "../audit/audit";
import { AppError } from "../core/errors";
import { isGuardFailure, requireChanged } from "../core/guard";
import { createDb } from "../db/client";
import { batches } from "../db/schema";

export const BATCH_STATUSES = [
  "draft",
  "validated",
  "submitted",
  "approved",
  "releasing",
  "delivering",
  "completed",
  "completed_with_errors",
  "rejected",
  "cancelled",
  "expired",
] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];
export type BatchRow = typeof batches.$inferSelect;

/** Allowed moves. Side exits (rejected, cancelled, expired) release the hold in the code that takes them. */
export const TRANSITIONS: Readonly<Record<BatchStatus, readonly BatchStatus[]>> = {
  draft: ["validated", "cancelled"],
  validated: ["submitted", "cancelled"],
  submitted: ["approved", "rejected", "cancelled", "expired"],
  approved: ["releasing", "cancelled", "expired"],
  releasing: ["delivering"],
  delivering: ["completed", "completed_with_errors"],
  completed: [],
  completed_with_errors: [],
  rejected: [],
  cancelled: [],
  expired: [],
};

/** Statuses whose batch owns a pool hold; in every other status a batch's hold is an orphan to release. */
export const HOLDING: readonly BatchStatus[] = ["submitted", "approved", "releasing", "delivering"];

/** Statuses in which recipients may still be uploaded. */
export const EDITABLE: readonly BatchStatus[] = ["draft", "validated"];

export function canTransition(from: BatchStatus, to: BatchStatus): boolean {
  return TRANSITIONS[from]?.includes(to) ?? false;
}

export function illegalTransition(batchId: string, from: string, to: string): AppError {
  const allowed = TRANSITIONS[from as BatchStatus] ?? [];
  return new AppError("invalid_state_transition", `Batch ${batchId} is ${from}; it cannot become ${to}`, {
    batch_status: from,
    allowed_next: allowed,
  });
}

export function refuseUnlessEditable(batch: BatchRow): void {
  if (!EDITABLE.includes(batch.status as BatchStatus)) {
    throw new AppError("invalid_state_transition", `Batch ${batch.id} is ${batch.status}; recipients can only be uploaded while it is draft or validated`, {
      batch_status: batch.status,
    });
  }
}

export interface Transition {
  batch: BatchRow;
  to: BatchStatus;
  /** Audit action, e.g. `batch.validated`, `batch.cancelled`. */
  action: string;
  actor: string;
  requestId?: string;
  /** Other columns to set in the same UPDATE (counts, hold id, timestamps...). */
  patch?: Partial<Record<keyof BatchRow, unknown>>;
  /** An extra condition the batch row must meet, e.g. still holding the caller's upload lease. */
  guard?: SQL;
  /** Statements to commit in the same transaction (after the update). */
  extra?: D1PreparedStatement[];
  /** Details for the audit event's `after`. */
  details?: Record<string, unknown>;
  /** More audit events to write in the same transaction. */
  events?: AuditInput[];
}

/** Applies one status change, or throws `invalid_state_transition` and changes nothing. */
export async function transitionBatch(d1: D1Database, t: Transition): Promise<void> {
  const { batch, to } = t;
  const from = batch.status as BatchStatus;
  if (!canTransition(from, to)) throw illegalTransition(batch.id, from, to);
  const now = new Date().toISOString();
  const update = createDb(d1)
    .update(batches)
    .set({ ...(t.patch as object), status: to, stateVersion: sql`${batches.stateVersion} + 1`, updatedAt: now })
    .where(and(eq(batches.id, batch.id), eq(batches.org, batch.org), eq(batches.status, from), t.guard))
    .toSQL();
  const record = d1
    .prepare(
      `INSERT INTO batch_transitions (batch_id, seq, org, from_status, to_status, action, actor, created_at)
       SELECT id, state_version, org, ?2, status, ?3, ?4, ?5 FROM batches WHERE id = ?1`,
    )
    .bind(batch.id, from, t.action, t.actor, now);
  const event: AuditInput = {
    actor: t.actor,
    action: t.action,
    entityType: "batch",
    entityId: batch.id,
    before: { status: from },
    after: { status: to, ...t.details },
    requestId: t.requestId,
  };
  try {
    await appendAudit(
      d1,
      batch.org,
      [event, ...(t.events ?? [])],
      [d1.prepare(update.sql).bind(...update.params), requireChanged(d1), record, ...(t.extra ?? [])],
    );
  } catch (err) {
    if (!isGuardFailure(err)) throw err;
    const current = await d1.prepare("SELECT status FROM batches WHERE id = ?").bind(batch.id).first<{ status: string }>();
    if (current && current.status !== from && !canTransition(current.status as BatchStatus, to)) throw illegalTransition(batch.id, current.status, to);
    if (current && current.status !== from) {
      // Still 409 invalid_state_transition (this request's move from `from` did not happen), but no longer claiming
      // the move is illegal: e.g. a cancel that lost to a submit may cancel the submitted batch as a new request.
      throw new AppError(
        "invalid_state_transition",
        `Batch ${batch.id} became ${current.status} while this request ran; a new request may move it on from ${current.status}`,
        {
          batch_status: current.status,
          allowed_next: TRANSITIONS[current.status as BatchStatus] ?? [],
        },
      );
    }
    throw new AppError("conflict", `Batch ${batch.id} changed while this request ran; retry`);
  }
}
