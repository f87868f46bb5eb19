/**
 * SMS through a Twilio-style Messages API (POST {SMS_API_URL}/Accounts/{sid}/Messages.json, basic
 * auth, form body To/From/Body), or the dev outbox in development without SMS keys.
 */
import type { Env } from "../env";
import { SMS_TIMEOUT_MS } from "../delivery/retry-policy";
import { failure, type SendResult } from "./errors";
import { usesOutbox, writeOutbox } from "./outbox";

export interface OutgoingSms {
  org: string;
  to: string;
  text: string;
  idempotencyKey: string;
  links?: string[];
}

export async function sendSms(env: Env, sms: OutgoingSms): Promise<SendResult> {
  if (usesOutbox(env, "sms")) {
    const [id] = await writeOutbox(env, [{ ...sms, channel: "sms" }]);
    return { ok: true, providerMessageId: `outbox:${id}` };
  }
  if (!env.SMS_AUTH_TOKEN || !env.SMS_ACCOUNT_SID || !env.SMS_FROM) {
    return { ok: false, errorClass: "policy", status: null, detail: "No SMS provider is configured" };
  }
  const base = env.SMS_API_URL ?? "https://api.twilio.com/2010-04-01";
  try {
    const res = await fetch(`${base}/Accounts/${env.SMS_ACCOUNT_SID}/Messages.json`, {
      method: "POST",
      headers: {
        authorization: `Basic ${btoa(`${env.SMS_ACCOUNT_SID}:${env.SMS_AUTH_TOKEN}`)}`,
        "content-type": "application/x-www-form-urlencoded",
        "i-twilio-idempotency-token": sms.idempotencyKey,
      },
      body: new URLSearchParams({ To: sms.to, From: env.SMS_FROM, Body: sms.text }),
      signal: AbortSignal.timeout(SMS_TIMEOUT_MS),
    });
    const body = (await res.json().catch(() => ({}))) as { sid?: string; message?: string };
    if (!res.ok) return failure(res.status, `SMS provider: ${body.message ?? res.statusText}`, res.headers.get("retry-after"));
    return { ok: true, providerMessageId: body.sid ?? "unknown" };
  } catch (err) {
    return failure(null, `SMS provider unreachable: ${(err as Error).message}`);
  }
}
