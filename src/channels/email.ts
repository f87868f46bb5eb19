/**
 * Email through Resend (the official SDK), or the dev outbox when no key is set in development.
 * Callers pass an idempotency key chosen before sending (e.g. derived from delivery id and
 * attempt), so a retried send never mails twice.
 */
import { Resend } from "resend";
import type { Env } from "../env";
import { countProviderCall } from "../dev/metrics";
import { failure, type SendResult } from "./errors";
import { usesOutbox, writeOutbox } from "./outbox";

export interface OutgoingEmail {
  org: string;
  to: string;
  subject: string;
  html: string;
  text: string;
  /** Links the message carries (shown by the dev outbox; handy for tests and `npm run dev`). */
  links?: string[];
  idempotencyKey: string;
  tags?: { name: string; value: string }[];
}

/** Resend's batch endpoint takes at most 100 emails per call. */
export const MAX_BATCH = 100;

function client(env: Env): Resend {
  return new Resend(env.RESEND_API_KEY, env.RESEND_BASE_URL ? { baseUrl: env.RESEND_BASE_URL } : undefined);
}

function notConfigured(): SendResult {
  return { ok: false, errorClass: "policy", status: null, detail: "No email provider is configured (RESEND_API_KEY)" };
}

function payload(env: Env, e: OutgoingEmail) {
  return { from: env.EMAIL_FROM, to: [e.to], subject: e.subject, html: e.html, text: e.text, tags: e.tags };
}

/** The SDK takes no abort signal, so a slow provider is cut off here and treated as transient. */
async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function sendEmail(env: Env, email: OutgoingEmail): Promise<SendResult> {
  return (await sendEmailBatch(env, [email], email.idempotencyKey))[0]!;
}

/**
 * Sends up to 100 emails in one provider call. The result has one entry per email, in order;
 * a failed call fails every email of it with the same classified error.
 */
export async function sendEmailBatch(env: Env, emails: OutgoingEmail[], idempotencyKey: string): Promise<SendResult[]> {
  if (emails.length === 0) return [];
  if (emails.length > MAX_BATCH) throw new Error(`sendEmailBatch takes at most ${MAX_BATCH} emails`);
  if (usesOutbox(env, "email")) {
    const ids = await writeOutbox(env, emails.map((e) => ({ ...e, channel: "email" as const })));
    return ids.map((id) => ({ ok: true, providerMessageId: `outbox:${id}` }));
  }
  if (!env.RESEND_API_KEY) return emails.map(notConfigured);
  countProviderCall(env);
  try {
    const resend = client(env);
    type Answer = { data: unknown; error: { statusCode: number | null; name: string; message: string } | null; headers: Record<string, string> | null };
    const call: Promise<Answer> =
      emails.length === 1
        ? resend.emails.send(payload(env, emails[0]!), { idempotencyKey })
        : resend.batch.send(emails.map((e) => payload(env, e)), { idempotencyKey });
    const res = await withTimeout(call, Number(env.EMAIL_TIMEOUT_MS ?? 15_000));
    if (res.error) {
      const f = failure(res.error.statusCode ?? null, `${res.error.name}: ${res.error.message}`, res.headers?.["retry-after"]);
      return emails.map(() => f);
    }
    const data = res.data as { id: string } | { data: { id: string }[] };
    const ids = "data" in data ? data.data.map((d) => d.id) : [data.id];
    return emails.map((_, i) => ({ ok: true, providerMessageId: ids[i] ?? ids[0]! }));
  } catch (err) {
    const f = failure(null, `Email provider unreachable: ${(err as Error).message}`);
    return emails.map(() => f);
  }
}
