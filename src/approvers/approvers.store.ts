/** The approvers data layer: approver rows, enrolments, and the reads approvals make of them. */
import { and, asc, desc, eq, gt } from "drizzle-orm";
import { createDb } from "../db/client";
import { approverEnrolments, approvers } from "../db/schema";
import type { Role } from "../env";
import type { ApproverRow } from "./approver-state";

export type EnrolmentRow = typeof approverEnrolments.$inferSelect;

/** The roles a person can approve with; only these are taken from an enrolling token. */
export const APPROVAL_ROLES = ["finance", "owner", "operator"] as const satisfies readonly Role[];
export type ApprovalRole = (typeof APPROVAL_ROLES)[number];

export const rolesOf = (row: Pick<ApproverRow, "roles">): ApprovalRole[] => JSON.parse(row.roles) as ApprovalRole[];

export async function findApprover(d1: D1Database, org: string, sub: string): Promise<ApproverRow | null> {
  const [row] = await createDb(d1)
    .select()
    .from(approvers)
    .where(and(eq(approvers.org, org), eq(approvers.sub, sub)))
    .limit(1);
  return row ?? null;
}

export function listApproverRows(d1: D1Database, org: string, limit: number, after?: string): Promise<ApproverRow[]> {
  return createDb(d1)
    .select()
    .from(approvers)
    .where(and(eq(approvers.org, org), after === undefined ? undefined : gt(approvers.sub, after)))
    .orderBy(asc(approvers.sub))
    .limit(limit);
}

/** Active approvers of the org (the ones approval emails may go to). */
export function activeApprovers(d1: D1Database, org: string): Promise<ApproverRow[]> {
  return createDb(d1)
    .select()
    .from(approvers)
    .where(and(eq(approvers.org, org), eq(approvers.status, "active")))
    .orderBy(asc(approvers.sub));
}

export async function findEnrolment(d1: D1Database, org: string, id: string): Promise<EnrolmentRow | null> {
  const [row] = await createDb(d1)
    .select()
    .from(approverEnrolments)
    .where(and(eq(approverEnrolments.org, org), eq(approverEnrolments.id, id)))
    .limit(1);
  return row ?? null;
}

/** The person's newest enrolment still awaiting confirmation, if any. */
export async function pendingEnrolment(d1: D1Database, org: string, sub: string): Promise<EnrolmentRow | null> {
  const [row] = await createDb(d1)
    .select()
    .from(approverEnrolments)
    .where(and(eq(approverEnrolments.org, org), eq(approverEnrolments.sub, sub), eq(approverEnrolments.status, "pending")))
    .orderBy(desc(approverEnrolments.createdAt))
    .limit(1);
  return row ?? null;
}

export function insertEnrolment(d1: D1Database, row: EnrolmentRow): D1PreparedStatement {
  const { sql, params } = createDb(d1).insert(approverEnrolments).values(row).toSQL();
  return d1.prepare(sql).bind(...params);
}

/** Earlier unconfirmed enrolments of the person stop working when a new one is made. */
export function supersedeEnrolments(d1: D1Database, org: string, sub: string): D1PreparedStatement {
  return d1.prepare("UPDATE approver_enrolments SET status = 'superseded' WHERE org = ?1 AND sub = ?2 AND status = 'pending'").bind(org, sub);
}

/** Marks an enrolment confirmed, only if still pending (follow with requireChanged). */
export function confirmEnrolment(d1: D1Database, id: string, now: string): D1PreparedStatement {
  return d1.prepare("UPDATE approver_enrolments SET status = 'confirmed', confirmed_at = ?2 WHERE id = ?1 AND status = 'pending'").bind(id, now);
}
