/**
 * The approver lifecycle. Every change of an `approvers` row goes through here: created `pending` by
 * its own enrolment, `active` once its address is confirmed, `suspended` / reinstated by an admin,
 * removed by an admin. Each change is a conditional write (the status and version the caller read
 * must still be there) committed with its audit event in one D1 transaction.
 */
import { appendAudit, type AuditInput } from "../audit/audit";
import { AppError } from "../core/errors";
import { isGuardFailure, requireChanged } from "../core/guard";
import type { approvers } from "../db/schema";

export const APPROVER_STATUSES = ["pending", "active", "suspended"] as const;
export type ApproverStatus = (typeof APPROVER_STATUSES)[number];
export type ApproverRow = typeof approvers.$inferSelect;

/**
 * Allowed moves. A move to the same status changes the identity only: a newer enrolment before the
 * first confirmation (pending), a re-enrolment confirmed while active, or while suspended (it stays
 * suspended: confirming an address never lifts an admin's suspension).
 */
export const TRANSITIONS: Readonly<Record<ApproverStatus, readonly ApproverStatus[]>> = {
  pending: ["pending", "active", "suspended"],
  active: ["active", "suspended"],
  suspended: ["suspended", "active", "pending"],
};

export const ENTITY_TYPE = "approver";

export const identity = (r: Pick<ApproverRow, "status" | "email" | "roles" | "enrolmentId">) => ({
  status: r.status,
  email: r.email,
  roles: JSON.parse(r.roles) as string[],
  enrolment_id: r.enrolmentId,
});

export function illegalApproverTransition(sub: string, from: string, to: string): AppError {
  return new AppError("invalid_state_transition", `Approver ${sub} is ${from}; it cannot become ${to}`, {
    approver_status: from,
    allowed_next: (TRANSITIONS[from as ApproverStatus] ?? []).filter((s) => s !== from),
  });
}

export interface ApproverTransition {
  row: ApproverRow;
  to: ApproverStatus;
  /** Audit action, e.g. `approver.confirmed`, `approver.suspended`. */
  action: string;
  actor: string;
  requestId?: string;
  patch?: { email?: string; roles?: string; enrolmentId?: string | null; enrolledAt?: string; verifiedAt?: string | null };
  /** Statements to commit in the same transaction (after the update). */
  extra?: D1PreparedStatement[];
  details?: Record<string, unknown>;
}

const COLUMNS = { email: "email", roles: "roles", enrolmentId: "enrolment_id", enrolledAt: "enrolled_at", verifiedAt: "verified_at" } as const;

/** Applies one change of an approver, or throws (`invalid_state_transition`, `conflict`) and changes nothing. */
export async function transitionApprover(d1: D1Database, t: ApproverTransition): Promise<ApproverRow> {
  const { row, to } = t;
  const from = row.status;
  // A move to the same status only carries an identity change (a patch); suspending a suspended approver is refused.
  if (!TRANSITIONS[from].includes(to) || (to === from && !t.patch)) throw illegalApproverTransition(row.sub, from, to);
  const now = new Date().toISOString();
  const patch = Object.entries(t.patch ?? {}).filter(([, v]) => v !== undefined) as [keyof typeof COLUMNS, string | null][];
  const sets = patch.map(([k], i) => `${COLUMNS[k]} = ?${i + 6}`).join(", ");
  const update = d1
    .prepare(
      `UPDATE approvers SET status = ?3, version = version + 1, updated_at = ?4${sets ? `, ${sets}` : ""}
       WHERE org = ?1 AND sub = ?2 AND status = ?5 AND version = ?${patch.length + 6}`,
    )
    .bind(row.org, row.sub, to, now, from, ...patch.map(([, v]) => v), row.version);
  const after: ApproverRow = { ...row, ...Object.fromEntries(patch), status: to, version: row.version + 1, updatedAt: now };
  const event: AuditInput = {
    actor: t.actor,
    action: t.action,
    entityType: ENTITY_TYPE,
    entityId: row.sub,
    requestId: t.requestId,
    before: identity(row),
    after: { ...identity(after), ...t.details },
  };
  try {
    await appendAudit(d1, row.org, [event], [update, requireChanged(d1), ...(t.extra ?? [])]);
  } catch (err) {
    if (!isGuardFailure(err)) throw err;
    throw new AppError("conflict", `Approver ${row.sub} changed while this request ran; read it again and retry`);
  }
  return after;
}

/** A person's first enrolment: the row, `pending`, with the enrolment's email and roles. */
export async function createApprover(
  d1: D1Database,
  row: ApproverRow,
  audit: Omit<AuditInput, "entityType" | "entityId" | "before" | "after"> & { details?: Record<string, unknown> },
  extra: D1PreparedStatement[] = [],
): Promise<void> {
  const insert = d1
    .prepare(
      `INSERT INTO approvers (org, sub, email, roles, status, enrolment_id, version, enrolled_at, verified_at, updated_at)
       VALUES (?1, ?2, ?3, ?4, 'pending', NULL, 1, ?5, NULL, ?5) ON CONFLICT (org, sub) DO NOTHING`,
    )
    .bind(row.org, row.sub, row.email, row.roles, row.enrolledAt);
  const event: AuditInput = {
    actor: audit.actor,
    action: audit.action,
    requestId: audit.requestId,
    entityType: ENTITY_TYPE,
    entityId: row.sub,
    after: { ...identity(row), ...audit.details },
  };
  try {
    await appendAudit(d1, row.org, [event], [insert, requireChanged(d1), ...extra]);
  } catch (err) {
    if (!isGuardFailure(err)) throw err;
    throw new AppError("conflict", `${row.sub} enrolled concurrently; retry`);
  }
}

/** An admin removes an approver: the row goes, and so do their unconfirmed enrolments' links. */
export async function removeApprover(d1: D1Database, row: ApproverRow, actor: string, requestId?: string): Promise<void> {
  const statements = [
    d1.prepare("DELETE FROM approvers WHERE org = ?1 AND sub = ?2 AND version = ?3").bind(row.org, row.sub, row.version),
    requireChanged(d1),
    d1.prepare("UPDATE approver_enrolments SET status = 'superseded' WHERE org = ?1 AND sub = ?2 AND status = 'pending'").bind(row.org, row.sub),
  ];
  const event: AuditInput = { actor, action: "approver.removed", entityType: ENTITY_TYPE, entityId: row.sub, requestId, before: identity(row), after: null };
  try {
    await appendAudit(d1, row.org, [event], statements);
  } catch (err) {
    if (!isGuardFailure(err)) throw err;
    throw new AppError("conflict", `Approver ${row.sub} changed while this request ran; read it again and retry`);
  }
}
