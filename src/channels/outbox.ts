/**
 * The dev outbox: in development without provider keys, channels write here instead of sending,
 * so `npm run dev` shows every email, SMS and claim link at GET /dev/outbox.
 */
import { newId } from "../core/ids";
import type { Env } from "../env";

export type Channel = "email" | "sms" | "link";

export interface OutboxMessage {
  org: string;
  channel: Channel;
  to: string;
  subject?: string;
  text: string;
  html?: string;
  links?: string[];
  idempotencyKey: string;
}

const DEV_ENVIRONMENTS = new Set(["development", "test"]);

/** True when `channel` has no provider configured and the Worker runs in a development mode. */
export function usesOutbox(env: Env, channel: Channel): boolean {
  if (!DEV_ENVIRONMENTS.has(env.ENVIRONMENT)) return false;
  if (channel === "email") return !env.RESEND_API_KEY;
  if (channel === "sms") return !env.SMS_AUTH_TOKEN;
  return true;
}

/** The outbox route exists only when no provider keys are set, in development. */
export function outboxEnabled(env: Env): boolean {
  return DEV_ENVIRONMENTS.has(env.ENVIRONMENT) && !env.RESEND_API_KEY && !env.SMS_AUTH_TOKEN;
}

/** Writes messages; one with an idempotency key seen before is kept once. Returns their ids. */
export async function writeOutbox(env: Env, messages: OutboxMessage[]): Promise<string[]> {
  const now = new Date().toISOString();
  const rows = messages.map((m) => ({
    id: newId("msg"),
    org: m.org,
    channel: m.channel,
    to: m.to,
    subject: m.subject ?? null,
    text: m.text,
    html: m.html ?? null,
    links: JSON.stringify(m.links ?? []),
    idempotency_key: m.idempotencyKey,
    created_at: now,
  }));
  if (rows.length === 0) return [];
  await env.DB.prepare(
    `INSERT OR IGNORE INTO dev_outbox (id, org, channel, "to", subject, text, html, links, idempotency_key, created_at)
     SELECT value ->> 'id', value ->> 'org', value ->> 'channel', value ->> 'to', value ->> 'subject', value ->> 'text',
            value ->> 'html', value ->> 'links', value ->> 'idempotency_key', value ->> 'created_at' FROM json_each(?)`,
  )
    .bind(JSON.stringify(rows))
    .run();
  const { results } = await env.DB.prepare("SELECT id, idempotency_key FROM dev_outbox WHERE idempotency_key IN (SELECT value FROM json_each(?))")
    .bind(JSON.stringify(rows.map((r) => r.idempotency_key)))
    .all<{ id: string; idempotency_key: string }>();
  const byKey = new Map(results.map((r) => [r.idempotency_key, r.id]));
  return rows.map((r) => byKey.get(r.idempotency_key) ?? r.id);
}

export interface OutboxRow {
  id: string;
  org: string;
  channel: Channel;
  to: string;
  subject: string | null;
  text: string;
  html: string | null;
  links: string[];
  created_at: string;
}

export async function readOutbox(env: Env, opts: { limit: number; to?: string; channel?: string }): Promise<OutboxRow[]> {
  const { results } = await env.DB.prepare(
    `SELECT id, org, channel, "to", subject, text, html, links, created_at FROM dev_outbox
     WHERE (?1 IS NULL OR "to" = ?1) AND (?2 IS NULL OR channel = ?2)
     ORDER BY created_at DESC, id DESC LIMIT ?3`,
  )
    .bind(opts.to ?? null, opts.channel ?? null, opts.limit)
    .all<Omit<OutboxRow, "links"> & { links: string }>();
  return results.map((r) => ({ ...r, links: JSON.parse(r.links) as string[] }));
}
