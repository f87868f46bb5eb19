/**
 * Verification links: GET shows what would be confirmed and changes nothing (mail scanners open
 * links); POST confirms, once, before the link expires. Confirming puts the enrolment's email and
 * roles in force; an approver an admin suspended stays suspended.
 */
import { utcMinute } from "../approvals/link-state";
import { sha256Hex } from "../core/crypto";
import { AppError } from "../core/errors";
import { requireChanged } from "../core/guard";
import type { Env } from "../env";
import { transitionApprover } from "./approver-state";
import { confirmEnrolment, findApprover, findEnrolment, type EnrolmentRow } from "./approvers.store";
import { verifyVerifyToken } from "./verify-token";

const invalid = () => new AppError("verification_link_invalid", "This is not a valid verification link.");

/** The link's enrolment, if the link can confirm it now; else why not. */
async function usableEnrolment(env: Env, token: string): Promise<EnrolmentRow> {
  const claims = await verifyVerifyToken(env, token);
  const enrolment = await findEnrolment(env.DB, claims.org, claims.jti);
  if (!enrolment || enrolment.sub !== claims.sub || enrolment.tokenHash !== (await sha256Hex(token))) throw invalid();
  if (enrolment.status === "confirmed")
    throw new AppError("verification_link_used", `This enrolment was confirmed on ${utcMinute(enrolment.confirmedAt!)}. Each verification link works once.`);
  if (enrolment.status === "superseded") {
    throw new AppError(
      "verification_link_superseded",
      "This enrolment was replaced by a newer one, or the approver was removed. Use the newest verification email, or enrol again.",
    );
  }
  if (enrolment.expiresAt <= new Date().toISOString())
    throw new AppError("verification_link_expired", `This verification link expired on ${utcMinute(enrolment.expiresAt)}. Enrol again to get a new one.`);
  return enrolment;
}

export interface VerifyPage {
  org: string;
  sub: string;
  email: string;
  roles: string[];
  expiresAt: string;
}

export async function openVerification(env: Env, token: string): Promise<VerifyPage> {
  const e = await usableEnrolment(env, token);
  return { org: e.org, sub: e.sub, email: e.email, roles: JSON.parse(e.roles) as string[], expiresAt: e.expiresAt };
}

export interface VerifyResult extends VerifyPage {
  status: "active" | "suspended" | "pending";
}

export async function confirmVerification(env: Env, token: string, requestId?: string): Promise<VerifyResult> {
  const e = await usableEnrolment(env, token);
  const row = await findApprover(env.DB, e.org, e.sub);
  if (!row) throw new AppError("verification_link_superseded", "This approver was removed; enrol again.");
  const now = new Date().toISOString();
  try {
    const after = await transitionApprover(env.DB, {
      row,
      to: row.status === "suspended" ? "suspended" : "active",
      action: "approver.confirmed",
      actor: e.sub,
      requestId,
      patch: { email: e.email, roles: e.roles, enrolmentId: e.id, enrolledAt: e.createdAt, verifiedAt: now },
      extra: [confirmEnrolment(env.DB, e.id, now), requireChanged(env.DB)],
      details: { enrolment_id: e.id, via: "verification_link" },
    });
    return { org: e.org, sub: e.sub, email: after.email, roles: JSON.parse(after.roles) as string[], expiresAt: e.expiresAt, status: after.status };
  } catch (err) {
    // Two posts of one link at once: the loser reads why (used) from the stored state.
    if (err instanceof AppError && err.code === "conflict") await usableEnrolment(env, token);
    throw err;
  }
}
