/**
 * Resend: the same reward again on the delivery's channel, as a new attempt (kind `resend`) with
 * its own provider idempotency key. No new reward and no money moves. Throttled per delivery so a
 * support desk cannot turn it into a spam cannon: at least RESEND_INTERVAL between resends and at
 * most RESENDS_PER_DAY in any 24 hours (failed resends count too). A `link` reward is refused: it
 * was never sent by Rewardrail (the integrator hands the claim URL over), so there is nothing to send again.
 */
import { appendAudit } from "../audit/audit";
import { AppError } from "../core/errors";
import { recordAttempts, sendRewards, type SendOutcome } from "../delivery/send";
import type { Auth, Env } from "../env";
import { deliveryDetail } from "./delivery-detail";
import { leaseDelivery, releaseLease, sendFacts } from "./delivery-store";

export const RESEND_INTERVAL_MS = 5 * 60_000;
export const RESENDS_PER_DAY = 5;
const DAY_MS = 86_400_000;

/** Throws `rate_limited` (with retry_after_seconds) when another resend is not allowed yet. */
async function checkThrottle(d1: D1Database, deliveryId: string, now: number): Promise<void> {
  const row = await d1
    .prepare(
      "SELECT COUNT(*) AS n, MIN(created_at) AS first, MAX(created_at) AS last FROM delivery_attempts WHERE delivery_id = ? AND kind = 'resend' AND created_at > ?",
    )
    .bind(deliveryId, new Date(now - DAY_MS).toISOString())
    .first<{ n: number; first: string | null; last: string | null }>();
  if (!row?.last || !row.first) return;
  const wait = (until: number) => Math.max(1, Math.ceil((until - now) / 1000));
  if (row.n >= RESENDS_PER_DAY) {
    const retryAfter = wait(Date.parse(row.first) + DAY_MS);
    throw new AppError("rate_limited", `Delivery ${deliveryId} was resent ${row.n} times in the last 24 hours (at most ${RESENDS_PER_DAY})`, {
      retry_after_seconds: retryAfter,
    });
  }
  const next = Date.parse(row.last) + RESEND_INTERVAL_MS;
  if (next > now) {
    throw new AppError("rate_limited", `Delivery ${deliveryId} was resent less than ${RESEND_INTERVAL_MS / 60_000} minutes ago`, {
      retry_after_seconds: wait(next),
    });
  }
}

export async function resendDelivery(env: Env, auth: Auth, id: string, reason: string, requestId?: string) {
  const d = await leaseDelivery(env.DB, auth.org, id, ["delivered"], "a resend");
  let outcome: SendOutcome;
  try {
    if (d.channel === "link") {
      // Nothing was ever sent for a link reward: the integrator hands its claim URL over.
      throw new AppError(
        "invalid_state_transition",
        `Delivery ${id} is a link reward: there is no message to send again; its claim_url (GET /v1/deliveries/${id} as operator or integrator) is what the recipient needs`,
        { channel: d.channel },
      );
    }
    await checkThrottle(env.DB, id, Date.now());
    const facts = await sendFacts(env.DB, d);
    const outcomes = await sendRewards(env, [facts.job], "resend", auth.sub);
    outcome = outcomes.get(id)!;
    const r = outcome.result;
    const after = {
      ...(r.ok
        ? { attempt_no: outcome.attemptNo, outcome: "sent", provider_message_id: r.providerMessageId }
        : { attempt_no: outcome.attemptNo, outcome: "failed", error_class: r.errorClass, error_detail: r.detail }),
      ...(reason ? { reason } : {}),
    };
    await appendAudit(
      env.DB,
      auth.org,
      [{ actor: auth.sub, action: "delivery.resent", entityType: "delivery", entityId: id, after, requestId }],
      [recordAttempts(env.DB, outcomes)!, releaseLease(env.DB, id)],
    );
  } catch (err) {
    await releaseLease(env.DB, id).run();
    throw err;
  }
  const delivery = await deliveryDetail(env, auth, id);
  return { delivery, attempt: delivery.attempts.find((a) => a.attempt_no === outcome.attemptNo)! };
}
