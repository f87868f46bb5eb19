/**
 * What admins may do to approvers: suspend, reinstate, remove. Never add one, never change an
 * approver's email or roles (those come only from the person's own enrolment and mailbox).
 */
import { notFound } from "../core/errors";
import type { Auth, Env } from "../env";
import { removeApprover, transitionApprover, type ApproverRow } from "./approver-state";
import { findApprover } from "./approvers.store";
import { approverView } from "./view";

async function requireApprover(d1: D1Database, org: string, sub: string): Promise<ApproverRow> {
  const row = await findApprover(d1, org, sub);
  if (!row) throw notFound("approver", sub);
  return row;
}

/** No new approval links, and their pending links stop working at once (decisions and renewals check the status). */
export async function suspendApprover(env: Env, auth: Auth, sub: string, requestId?: string) {
  const row = await requireApprover(env.DB, auth.org, sub);
  await transitionApprover(env.DB, { row, to: "suspended", action: "approver.suspended", actor: auth.sub, requestId });
  return approverView(env.DB, auth.org, sub);
}

/** Back as before the suspension, same email and roles: active, or pending if the address was never confirmed. */
export async function reinstateApprover(env: Env, auth: Auth, sub: string, requestId?: string) {
  const row = await requireApprover(env.DB, auth.org, sub);
  await transitionApprover(env.DB, { row, to: row.enrolmentId ? "active" : "pending", action: "approver.reinstated", actor: auth.sub, requestId });
  return approverView(env.DB, auth.org, sub);
}

export async function deleteApprover(env: Env, auth: Auth, sub: string, requestId?: string): Promise<void> {
  const row = await requireApprover(env.DB, auth.org, sub);
  await removeApprover(env.DB, row, auth.sub, requestId);
}
