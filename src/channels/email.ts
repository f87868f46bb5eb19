/**
 * Email through Resend (the official SDK), or the dev outbox when no key is set in development.
 * Callers pass an idempotency key chosen before sending (e.g. derived from delivery id and
 * attempt), so a retried send never mails twice.
 */
import { Resend } from "resend";
import type { Env } from "../env";
import { EMAIL_TIMEOUT_MS } from "../delivery/retry-policy";
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
 * Sends up to 100 emails in one provider call. The result has one entry per email, in order. The
 * batch goes out in Resend's permissive mode, so an email the provider refuses (a bad or suppressed
 * address) fails alone and the others are sent. A whole call refused as bad data is tried again one
 * email at a time, each under its own idempotency key, so that the refusal lands on the email that
 * caused it; any other failed call (rate limit, outage, timeout) fails every email of it alike.
 */
export async function sendEmailBatch(env: Env, emails: OutgoingEmail[], idempotencyKey: string): Promise<SendResult[]> {
  if (emails.length === 0) return [];
  if (emails.length > MAX_BATCH) throw new Error(`sendEmailBatch takes at most ${MAX_BATCH} emails`);
  if (usesOutbox(env, "email")) {
    const ids = await writeOutbox(
      env,
      emails.map((e) => ({ ...e, channel: "email" as const })),
    );
    return ids.map((id) => ({ ok: true, providerMessageId: `outbox:${id}` }));
  }
  if (!env.RESEND_API_KEY) return emails.map(notConfigured);
  try {
    const resend = client(env);
    type Answer = { data: unknown; error: { statusCode: number | null; name: string; message: string } | null; headers: Record<string, string> | null };
    const call: Promise<Answer> =
      emails.length === 1
        ? resend.emails.send(payload(env, emails[0]!), { idempotencyKey })
        : resend.batch.send(
            emails.map((e) => payload(env, e)),
            { idempotencyKey, batchValidation: "permissive" },
          );
    const res = await withTimeout(call, Number(env.EMAIL_TIMEOUT_MS ?? EMAIL_TIMEOUT_MS));
    if (res.error) {
      const f = failure(res.error.statusCode ?? null, `${res.error.name}: ${res.error.message}`, res.headers?.["retry-after"]);
      if (emails.length > 1 && f.ok === false && f.errorClass === "data") return sendOneByOne(env, emails);
      return emails.map(() => f);
    }
    const data = res.data as { id: string } | { data: { id: string }[]; errors?: { index: number; message: string }[] };
    if (!("data" in data)) return [{ ok: true, providerMessageId: data.id }];
    return batchResults(
      emails.length,
      data.data.map((d) => d.id),
      data.errors ?? [],
    );
  } catch (err) {
    const f = failure(null, `Email provider unreachable: ${(err as Error).message}`);
    return emails.map(() => f);
  }
}

/**
 * A permissive batch's answer per email: `errors` name the refused emails by index, and `data`
 * holds the ids of the others in request order (or of every email, when its length says so).
 */
function batchResults(count: number, ids: string[], errors: { index: number; message: string }[]): SendResult[] {
  const refused = new Map(errors.map((e) => [e.index, e.message]));
  let next = 0;
  return Array.from({ length: count }, (_, i): SendResult => {
    const message = refused.get(i);
    if (message !== undefined) return failure(422, `validation_error: ${message}`);
    const id = ids.length === count ? ids[i] : ids[next++];
    return id ? { ok: true, providerMessageId: id } : failure(null, "The provider answered no id for this email");
  });
}

/** Each email on its own call, one after another (the provider limits calls per second). */
async function sendOneByOne(env: Env, emails: OutgoingEmail[]): Promise<SendResult[]> {
  const out: SendResult[] = [];
  for (const e of emails) out.push(...(await sendEmailBatch(env, [e], e.idempotencyKey)));
  return out;
}
