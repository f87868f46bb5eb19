/**
 * Enrolment: a person makes themselves an approver with their own token. `sub` and roles come from
 * the token (the approval roles it carries, never more), the address from the body; nothing counts
 * until the address confirms by link. Enrolling again makes a new pending enrolment (the earlier
 * unconfirmed one stops working) and tells the address on file; a confirmed approver keeps their
 * current email and roles until the new address confirms.
 */
import { appendAudit, type AuditInput } from "../audit/audit";
import { linkTtlMs } from "../approvals/config";
import { sendEmail } from "../channels/email";
import { sha256Hex } from "../core/crypto";
import { AppError } from "../core/errors";
import { newId } from "../core/ids";
import type { Auth, Env } from "../env";
import { createApprover, ENTITY_TYPE, transitionApprover, type ApproverRow } from "./approver-state";
import { APPROVAL_ROLES, findApprover, insertEnrolment, supersedeEnrolments, type EnrolmentRow } from "./approvers.store";
import { reEnrolmentNotice, verificationEmail } from "./emails";
import { signVerifyToken } from "./verify-token";
import { approverView } from "./view";

/** The approval roles a token carries, in a stable order. */
export const approvalRolesOf = (auth: Auth): string[] => APPROVAL_ROLES.filter((r) => auth.roles.includes(r));

export async function enrol(env: Env, auth: Auth, email: string, origin: string, requestId?: string) {
  const roles = approvalRolesOf(auth);
  if (roles.length === 0) throw new AppError("forbidden", `Only a token with an approval role (${APPROVAL_ROLES.join(", ")}) can enrol`);
  const d1 = env.DB;
  const existing = await findApprover(d1, auth.org, auth.sub);
  const now = Date.now();
  const expiresAt = now + linkTtlMs(env);
  const id = newId("enr");
  const token = await signVerifyToken(env, { sub: auth.sub, org: auth.org, jti: id }, expiresAt);
  const enrolment: EnrolmentRow = {
    id,
    org: auth.org,
    sub: auth.sub,
    email,
    roles: JSON.stringify(roles),
    status: "pending",
    tokenHash: await sha256Hex(token),
    expiresAt: new Date(expiresAt).toISOString(),
    createdAt: new Date(now).toISOString(),
    confirmedAt: null,
  };
  const statements = [supersedeEnrolments(d1, auth.org, auth.sub), insertEnrolment(d1, enrolment)];
  const details = { enrolment_id: enrolment.id, requested: { email, roles }, token_roles: auth.roles, expires_at: enrolment.expiresAt };
  await record(d1, auth, existing, enrolment, statements, details, requestId);
  const link = `${origin}/verify/${token}`;
  const sent = await sendEmail(env, {
    org: auth.org,
    to: email,
    links: [link],
    idempotencyKey: `approver-verify:${enrolment.id}`,
    tags: [{ name: "category", value: "approver" }],
    ...(await verificationEmail({ sub: auth.sub, org: auth.org, roles, link, expiresAt: enrolment.expiresAt })),
  });
  const events: AuditInput[] = [emailEvent(auth, "approver.verification_sent", email, enrolment.id, sent, requestId)];
  if (existing) {
    const notice = await sendEmail(env, {
      org: auth.org,
      to: existing.email,
      idempotencyKey: `approver-re-enrol:${enrolment.id}`,
      tags: [{ name: "category", value: "approver" }],
      ...(await reEnrolmentNotice({ sub: auth.sub, org: auth.org, newEmail: email, roles })),
    });
    events.push(emailEvent(auth, "approver.old_address_notified", existing.email, enrolment.id, notice, requestId));
  }
  await appendAudit(d1, auth.org, events);
  return { ...(await approverView(d1, auth.org, auth.sub)), verification_email_status: sent.ok ? ("sent" as const) : ("failed" as const) };
}

function emailEvent(auth: Auth, action: string, to: string, enrolmentId: string, r: Awaited<ReturnType<typeof sendEmail>>, requestId?: string): AuditInput {
  return {
    actor: "system:approvers",
    action: r.ok ? action : `${action.replace(/_(sent|notified)$/, "")}_email_failed`,
    entityType: ENTITY_TYPE,
    entityId: auth.sub,
    requestId,
    after: { enrolment_id: enrolmentId, to, ...(r.ok ? { provider_message_id: r.providerMessageId } : { error_class: r.errorClass, error: r.detail }) },
  };
}

/** Stores the enrolment with its audit event; a first enrolment creates the approver, `pending`. */
async function record(
  d1: D1Database,
  auth: Auth,
  existing: ApproverRow | null,
  e: EnrolmentRow,
  statements: D1PreparedStatement[],
  details: Record<string, unknown>,
  requestId?: string,
) {
  if (!existing) {
    const row: ApproverRow = {
      org: auth.org,
      sub: auth.sub,
      email: e.email,
      roles: e.roles,
      status: "pending",
      enrolmentId: null,
      version: 1,
      enrolledAt: e.createdAt,
      verifiedAt: null,
      updatedAt: e.createdAt,
    };
    return createApprover(d1, row, { actor: auth.sub, action: "approver.enrolled", requestId, details }, statements);
  }
  if (existing.status === "pending" && !existing.enrolmentId) {
    // Never confirmed: there is no approved identity to keep, the row shows the newest request.
    return transitionApprover(d1, {
      row: existing,
      to: "pending",
      action: "approver.re_enrolled",
      actor: auth.sub,
      requestId,
      details,
      patch: { email: e.email, roles: e.roles, enrolledAt: e.createdAt },
      extra: statements,
    });
  }
  // Confirmed before: the approver row keeps its email and roles until the new address confirms.
  return appendAudit(
    d1,
    auth.org,
    [
      {
        actor: auth.sub,
        action: "approver.re_enrolled",
        entityType: ENTITY_TYPE,
        entityId: auth.sub,
        requestId,
        after: { status: existing.status, ...details },
      },
    ],
    statements,
  );
}
