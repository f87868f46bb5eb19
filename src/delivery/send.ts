/**
 * Sending rewards on their channel, attempt by attempt, with a provider idempotency key of delivery
 * id + attempt number. The attempt number is one more than the last recorded attempt: the queue
 * consumer (kind `send`) writes its attempt row once, with the outcome, so a redelivery after a crash
 * before that write computes the same number and key, and the provider sends at most once per key.
 * Resends and reissues (people's actions, outside the queue) write a pending row before the provider
 * call, which a later send reuses, so an interrupted one still shows in support's history.
 */
import type { AttemptFacts } from "../audit/settlement";
import { sendEmailBatch, MAX_BATCH } from "../channels/email";
import type { SendResult } from "../channels/errors";
import { writeOutbox } from "../channels/outbox";
import { sendSms } from "../channels/sms";
import { sha256Hex } from "../core/crypto";
import { newId } from "../core/ids";
import type { Env } from "../env";
import { claimUrl } from "./claim-links";
import { revealCodes, type RevealedCode } from "./rewards";
import { rewardEmail, rewardSms, type RewardTemplate } from "./templates";

export interface SendJob {
  deliveryId: string;
  org: string;
  channel: "email" | "sms" | "link";
  amount: number;
  currency: string;
  codeId: string | null;
  cardId: string | null;
  recipient: { name: string | null; email: string | null; phone: string | null; externalId: string | null; fields?: Record<string, string> | null };
  productName: string;
  batchName: string;
  campaign?: string;
  /** The org's template (settings.reward_template); the built-in one when absent. */
  template?: RewardTemplate | null;
  /** The plain code when the caller has just issued it; otherwise it is read and decrypted here. */
  code?: RevealedCode;
  /** The caller knows the delivery has no attempt row yet (the consumer's first claim of it): nothing to look up. */
  firstAttempt?: boolean;
}

export interface SendOutcome {
  attempt: Attempt;
  attemptNo: number;
  result: SendResult;
  masked: string | null;
}

/** An attempt's row as recordAttempts writes it (outcome aside). */
interface Attempt {
  id: string;
  no: number;
  key: string;
  delivery_id: string;
  org: string;
  kind: AttemptKind;
  channel: string;
  actor: string;
  created_at: string;
}

type AttemptKind = "send" | "resend" | "reissue";

/** Sends every job once and returns the outcome per delivery id; `recordAttempts` writes (or completes) their attempt rows. */
export async function sendRewards(env: Env, jobs: SendJob[], kind: AttemptKind, actor: string): Promise<Map<string, SendOutcome>> {
  const out = new Map<string, SendOutcome>();
  if (jobs.length === 0) return out;
  const org = jobs[0]!.org;
  const attempts = await startAttempts(env, jobs, kind, actor);
  const codes = await revealCodes(
    env,
    org,
    jobs.filter((j) => !j.code).map((j) => ({ deliveryId: j.deliveryId, codeId: j.codeId, cardId: j.cardId })),
  );
  for (const j of jobs) if (j.code) codes.set(j.deliveryId, j.code);
  const missing = (j: SendJob): SendResult => ({ ok: false, errorClass: "policy", status: null, detail: `No reward code found for ${j.deliveryId}` });
  const messages = await Promise.all(
    jobs.map(async (j) => {
      const code = codes.get(j.deliveryId);
      const link = j.channel === "link" || j.channel === "sms" ? await claimUrl(env, j.org, j.deliveryId, code?.expiresAt) : undefined;
      const input = {
        recipientName: j.recipient.name,
        amount: j.amount,
        currency: j.currency,
        productName: j.productName,
        batchName: j.batchName,
        campaign: j.campaign,
        code: code?.code ?? "",
        expiresAt: code?.expiresAt ?? null,
        claimUrl: link,
        fields: j.recipient.fields,
      };
      return { job: j, code, link, input, attempt: attempts.get(j.deliveryId)! };
    }),
  );
  const record = (m: (typeof messages)[number], result: SendResult) =>
    out.set(m.job.deliveryId, { attempt: m.attempt, attemptNo: m.attempt.no, result, masked: m.code?.masked ?? null });

  const emails = messages.filter((m) => m.job.channel === "email");
  const groups: (typeof emails)[] = [];
  for (let i = 0; i < emails.length; i += MAX_BATCH) groups.push(emails.slice(i, i + MAX_BATCH));
  // Provider calls of one consumer run go out together: the round trip, not our CPU, is their cost.
  await Promise.all(
    groups.map(async (group) => {
      const ready = group.filter((m) => m.code && m.job.recipient.email);
      for (const m of group) if (!m.code) record(m, missing(m.job));
      for (const m of group)
        if (m.code && !m.job.recipient.email) record(m, { ok: false, errorClass: "data", status: null, detail: "The recipient has no email address" });
      if (ready.length === 0) return;
      const key = await sha256Hex(
        ready
          .map((m) => m.attempt.key)
          .sort()
          .join("\n"),
      );
      const payload = ready.map((m) => ({
        org,
        to: m.job.recipient.email!,
        ...rewardEmail(m.input, m.job.template ?? undefined),
        idempotencyKey: m.attempt.key,
      }));
      const results = await sendEmailBatch(env, payload, `dlv-batch:${key}`);
      for (const [k, m] of ready.entries()) record(m, results[k]!);
    }),
  );
  for (const m of messages.filter((x) => x.job.channel === "sms")) {
    if (!m.code) record(m, missing(m.job));
    else if (!m.job.recipient.phone) record(m, { ok: false, errorClass: "data", status: null, detail: "The recipient has no phone number" });
    else
      record(
        m,
        await sendSms(env, {
          org,
          to: m.job.recipient.phone,
          text: rewardSms(m.input, m.job.template ?? undefined),
          idempotencyKey: m.attempt.key,
          links: [m.link!],
        }),
      );
  }
  const links = messages.filter((x) => x.job.channel === "link");
  if (links.length > 0)
    await writeOutboxLinks(
      env,
      links.map((m) => ({
        to: m.job.recipient.email ?? m.job.recipient.phone ?? m.job.recipient.externalId ?? m.job.deliveryId,
        link: m.link!,
        key: m.attempt.key,
        org,
      })),
    );
  for (const m of links) record(m, m.code ? { ok: true, providerMessageId: `link:${m.job.deliveryId}` } : missing(m.job));
  return out;
}

/** In development the claim links land in the outbox too; in production the integrator fetches them from the API. */
async function writeOutboxLinks(env: Env, links: { to: string; link: string; key: string; org: string }[]) {
  if (env.ENVIRONMENT !== "development" && env.ENVIRONMENT !== "test") return;
  await writeOutbox(
    env,
    links.map((l) => ({ org: l.org, channel: "link" as const, to: l.to, subject: "Reward claim link", text: l.link, links: [l.link], idempotencyKey: l.key })),
  );
}

/**
 * Reuses a pending attempt (a resend or reissue interrupted after it started) or starts the next one;
 * returns the attempt per delivery. Only resends and reissues write their pending row here.
 */
async function startAttempts(env: Env, jobs: SendJob[], kind: AttemptKind, actor: string): Promise<Map<string, Attempt>> {
  const lookUp = jobs.filter((j) => !j.firstAttempt);
  const ids = JSON.stringify(lookUp.map((j) => j.deliveryId));
  const { results } = !lookUp.length
    ? { results: [] }
    : await env.DB.prepare(
        `SELECT delivery_id, MAX(attempt_no) AS last, MAX(CASE WHEN outcome = 'pending' THEN attempt_no END) AS pending_no,
            MAX(CASE WHEN outcome = 'pending' THEN id END) AS pending_id
     FROM delivery_attempts WHERE delivery_id IN (SELECT value FROM json_each(?)) GROUP BY delivery_id`,
      )
        .bind(ids)
        .all<{ delivery_id: string; last: number; pending_no: number | null; pending_id: string | null }>();
  const prior = new Map(results.map((r) => [r.delivery_id, r]));
  const now = new Date().toISOString();
  const attempts = new Map<string, Attempt>();
  const fresh: Record<string, unknown>[] = [];
  for (const j of jobs) {
    const p = prior.get(j.deliveryId);
    const base = { delivery_id: j.deliveryId, org: j.org, kind, channel: j.channel, actor, created_at: now };
    if (p?.pending_no && p.pending_id && kind === "send") {
      attempts.set(j.deliveryId, { ...base, id: p.pending_id, no: p.pending_no, key: `${j.deliveryId}:${p.pending_no}` });
      continue;
    }
    const no = (p?.last ?? 0) + 1;
    const a = { ...base, id: newId("att"), no, key: `${j.deliveryId}:${no}` };
    attempts.set(j.deliveryId, a);
    if (kind !== "send") fresh.push({ ...base, id: a.id, attempt_no: no, idempotency_key: a.key });
  }
  if (fresh.length > 0) {
    await env.DB.prepare(
      `INSERT INTO delivery_attempts (id, delivery_id, org, attempt_no, kind, channel, idempotency_key, outcome, actor, created_at)
       SELECT value ->> 'id', value ->> 'delivery_id', value ->> 'org', value ->> 'attempt_no', value ->> 'kind', value ->> 'channel',
              value ->> 'idempotency_key', 'pending', value ->> 'actor', value ->> 'created_at' FROM json_each(?)`,
    )
      .bind(JSON.stringify(fresh))
      .run();
  }
  return attempts;
}

/** An attempt's outcome exactly as its row stores it (the settlement digest hashes the same). */
export function attemptFacts(o: SendOutcome): AttemptFacts {
  const r = o.result;
  return {
    outcome: r.ok ? "sent" : "failed",
    provider_message_id: r.ok ? r.providerMessageId : null,
    error_class: r.ok ? null : r.errorClass,
    error_detail: r.ok ? null : r.detail.slice(0, 1000),
  };
}

/**
 * The statement that writes attempts with their outcome (run in the same transaction as the delivery
 * updates): a new row for the consumer's sends, the completion of the pending row of a resend or reissue.
 */
export function recordAttempts(d1: D1Database, outcomes: Map<string, SendOutcome>): D1PreparedStatement | null {
  if (outcomes.size === 0) return null;
  const now = new Date().toISOString();
  const rows = [...outcomes.values()].map((o) => ({
    id: o.attempt.id,
    delivery_id: o.attempt.delivery_id,
    org: o.attempt.org,
    attempt_no: o.attempt.no,
    kind: o.attempt.kind,
    channel: o.attempt.channel,
    idempotency_key: o.attempt.key,
    actor: o.attempt.actor,
    created_at: o.attempt.created_at,
    ...attemptFacts(o),
  }));
  return d1
    .prepare(
      `INSERT INTO delivery_attempts (id, delivery_id, org, attempt_no, kind, channel, idempotency_key, outcome, provider_message_id, error_class,
         error_detail, actor, created_at, completed_at)
       SELECT value ->> 'id', value ->> 'delivery_id', value ->> 'org', value ->> 'attempt_no', value ->> 'kind', value ->> 'channel',
              value ->> 'idempotency_key', value ->> 'outcome', value ->> 'provider_message_id', value ->> 'error_class', value ->> 'error_detail',
              value ->> 'actor', value ->> 'created_at', ?2
       FROM json_each(?1) WHERE true
       ON CONFLICT (delivery_id, attempt_no) DO UPDATE SET outcome = excluded.outcome, provider_message_id = excluded.provider_message_id,
         error_class = excluded.error_class, error_detail = excluded.error_detail, completed_at = excluded.completed_at`,
    )
    .bind(JSON.stringify(rows), now);
}
