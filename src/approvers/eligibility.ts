/**
 * What approvals ask of approvers: who may be emailed a link for a role, whether a link's approver
 * may still decide, and the confirmed address to tell a batch's creator about a rejection.
 */
import { AppError } from "../core/errors";
import type { ApproverRow } from "./approver-state";
import { activeApprovers, findApprover, rolesOf } from "./approvers.store";

/** Active approvers whose enrolled roles include `role`. */
export async function enrolledFor(d1: D1Database, org: string, role: string): Promise<ApproverRow[]> {
  return (await activeApprovers(d1, org)).filter((a) => (rolesOf(a) as string[]).includes(role));
}

/**
 * A link decides only while its approver is active, still enrolled with the step's role, and under
 * the enrolment the link was sent for (a re-enrolment confirmed since then needs a new link).
 */
export async function assertLinkApprover(d1: D1Database, org: string, sub: string, role: string, enrolmentId: string | null): Promise<ApproverRow> {
  const a = await findApprover(d1, org, sub);
  if (!a) throw new AppError("not_an_approver", `You are not an enrolled approver of this organisation (any more), so this link cannot decide.`);
  if (a.status === "suspended") throw new AppError("not_an_approver", "Your approver enrolment is suspended by an administrator, so this link cannot decide.");
  if (a.status !== "active") throw new AppError("not_an_approver", "Your approver enrolment is not confirmed, so this link cannot decide.");
  if (!(rolesOf(a) as string[]).includes(role)) throw new AppError("not_an_approver", `You are no longer enrolled as a ${role} approver of this organisation.`);
  if (enrolmentId !== a.enrolmentId) throw new AppError("not_an_approver", "Your approver enrolment changed after this link was sent; ask for a new link.");
  return a;
}

/** The person's confirmed address, if they are an enrolled approver who confirmed one. */
export async function confirmedEmail(d1: D1Database, org: string, sub: string): Promise<string | null> {
  const a = await findApprover(d1, org, sub);
  return a?.enrolmentId ? a.email : null;
}
