/** Approvers as the API shows them (GET /v1/approvers). */
import { and, eq, inArray } from "drizzle-orm";
import { decodeCursor, encodeCursor } from "../core/pagination";
import { AppError, notFound } from "../core/errors";
import { createDb } from "../db/client";
import { approverEnrolments } from "../db/schema";
import type { ApproverRow } from "./approver-state";
import { findApprover, listApproverRows, rolesOf, type EnrolmentRow } from "./approvers.store";

function view(row: ApproverRow, pending: EnrolmentRow | undefined) {
  return {
    sub: row.sub,
    email: row.email,
    roles: rolesOf(row),
    status: row.status,
    enrolment_id: row.enrolmentId,
    version: row.version,
    enrolled_at: row.enrolledAt,
    verified_at: row.verifiedAt,
    updated_at: row.updatedAt,
    pending_enrolment: pending
      ? { id: pending.id, email: pending.email, roles: rolesOf(pending), enrolled_at: pending.createdAt, expires_at: pending.expiresAt }
      : null,
  };
}
export type ApproverView = ReturnType<typeof view>;

async function pendingBySub(d1: D1Database, org: string, subs: string[]): Promise<Map<string, EnrolmentRow>> {
  if (subs.length === 0) return new Map();
  const rows = await createDb(d1)
    .select()
    .from(approverEnrolments)
    .where(and(eq(approverEnrolments.org, org), inArray(approverEnrolments.sub, subs), eq(approverEnrolments.status, "pending")));
  return new Map(rows.map((r) => [r.sub, r]));
}

export async function approverView(d1: D1Database, org: string, sub: string): Promise<ApproverView> {
  const row = await findApprover(d1, org, sub);
  if (!row) throw notFound("approver", sub);
  return view(row, (await pendingBySub(d1, org, [sub])).get(sub));
}

/** Cursors carry the last `sub` percent-encoded (a sub may hold any character; base64 takes Latin-1 only). */
function afterSub(cursor: string | undefined): string | undefined {
  if (!cursor) return undefined;
  const key = decodeCursor(cursor, "sub");
  try {
    return decodeURIComponent(key);
  } catch {
    throw new AppError("validation_failed", "The cursor is not valid", {
      errors: [{ parameter: "cursor", code: "invalid", detail: "Use next_cursor from the previous page of this list" }],
    });
  }
}

export async function listApprovers(d1: D1Database, org: string, limit: number, cursor?: string) {
  const after = afterSub(cursor);
  const rows = await listApproverRows(d1, org, limit + 1, after);
  const page = rows.slice(0, limit);
  const pending = await pendingBySub(
    d1,
    org,
    page.map((r) => r.sub),
  );
  return {
    data: page.map((r) => view(r, pending.get(r.sub))),
    next_cursor: rows.length > limit ? encodeCursor("sub", encodeURIComponent(page.at(-1)!.sub)) : null,
  };
}
