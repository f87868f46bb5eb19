/**
 * Sends one webhook message: claim it, sign it (Standard Webhooks, both secrets during a rotation),
 * POST it with a 15 s timeout and no redirects, record the attempt, and decide what comes next —
 * delivered, another attempt on the schedule, or failed. One entity's messages reach an endpoint in
 * order: a message waits while an earlier one of the same entity and endpoint is unfinished, and
 * the one that finishes queues its successor. Other entities and endpoints never wait.
 */
import { Webhook } from "standardwebhooks";
import { newId } from "../core/ids";
import type { Env } from "../env";
import { sendWebhookMessages } from "../queues/messages";
import type { EndpointRow } from "./endpoints.service";
import { disableEndpoint } from "./disable";
import { DISABLE_AFTER_MS, MAX_QUEUE_DELAY_S, nextDelay, parseRetryAfter, SEND_TIMEOUT_MS } from "./retry-schedule";
import { openSecret } from "./secrets";
import { checkEndpointUrl } from "./url-guard";

export const RESPONSE_KEEP_BYTES = 1024;
const LEASE_MS = 60_000;

export interface MessageRow {
  id: string;
  org: string;
  endpoint_id: string;
  event_id: string;
  event_seq: number;
  entity_id: string;
  status: "pending" | "sending" | "delivered" | "failed";
  attempts: number;
  next_attempt_at: string;
  lease_until: string | null;
}
interface EventRow {
  id: string;
  seq: number;
  type: string;
  data: string;
  created_at: string;
}

export interface SendOptions {
  now?: Date;
  /** The outbound fetch (tests may pass a fake receiver). */
  fetch?: typeof fetch;
  /** A replay asked for by an admin: one attempt now, whatever the schedule or the order. */
  manual?: boolean;
}

export type SendOutcome =
  | { kind: "delivered" | "failed" | "retry"; statusCode: number | null; error: string | null; delayS?: number }
  | { kind: "skipped"; reason: "missing" | "not_due" | "busy" | "waiting"; delayS?: number };

export function payloadOf(ev: EventRow): string {
  return JSON.stringify({ id: ev.id, type: ev.type, created_at: ev.created_at, sequence: ev.seq, data: JSON.parse(ev.data) });
}

/** webhook-signature: one `v1,<base64>` per live secret, space-separated (Standard Webhooks). */
export async function signatures(env: Env, endpoint: EndpointRow, msgId: string, at: Date, body: string): Promise<string> {
  const secrets = [await openSecret(env, endpoint.org, endpoint.id, { ciphertext: endpoint.secret_ciphertext, iv: endpoint.secret_iv })];
  if (endpoint.previous_ciphertext && endpoint.previous_iv && endpoint.previous_expires_at && endpoint.previous_expires_at > at.toISOString()) {
    secrets.push(await openSecret(env, endpoint.org, endpoint.id, { ciphertext: endpoint.previous_ciphertext, iv: endpoint.previous_iv }));
  }
  return secrets.map((s) => new Webhook(s).sign(msgId, at, body)).join(" ");
}

async function firstBytes(res: Response): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < RESPONSE_KEEP_BYTES) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => {});
  const all = new Uint8Array(size);
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.byteLength;
  }
  return new TextDecoder().decode(all.subarray(0, RESPONSE_KEEP_BYTES));
}

interface Attempt {
  statusCode: number | null;
  latencyMs: number;
  body: string | null;
  error: string | null;
  retryAfterS: number | null;
}

async function post(env: Env, endpoint: EndpointRow, ev: EventRow, now: Date, f: typeof fetch): Promise<Attempt> {
  const verdict = checkEndpointUrl(endpoint.url, env.ENVIRONMENT);
  if (!verdict.ok) return { statusCode: null, latencyMs: 0, body: null, error: `url_not_allowed: ${verdict.reason}`, retryAfterS: null };
  const body = payloadOf(ev);
  const started = Date.now();
  try {
    const res = await f(verdict.url.toString(), {
      method: "POST",
      redirect: "manual",
      signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
      headers: {
        "content-type": "application/json",
        "user-agent": "Rewardrail-Webhooks/1",
        "webhook-id": ev.id,
        "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
        "webhook-signature": await signatures(env, endpoint, ev.id, now, body),
      },
      body,
    });
    const text = await firstBytes(res).catch(() => "");
    const latencyMs = Date.now() - started;
    const redirect = res.status >= 300 && res.status < 400;
    const error = res.status >= 200 && res.status < 300 ? null : redirect ? `redirect ${res.status} not followed` : `HTTP ${res.status}`;
    return { statusCode: res.status, latencyMs, body: text, error, retryAfterS: parseRetryAfter(res.headers.get("retry-after"), now) };
  } catch (err) {
    const e = err as Error;
    const timeout = e?.name === "TimeoutError" || e?.name === "AbortError";
    return {
      statusCode: null,
      latencyMs: Date.now() - started,
      body: null,
      error: timeout ? `timed out after ${SEND_TIMEOUT_MS} ms` : `network error: ${String(e?.message ?? e).slice(0, 200)}`,
      retryAfterS: null,
    };
  }
}

export async function loadMessage(d1: D1Database, id: string, org: string) {
  return d1.prepare("SELECT * FROM webhook_messages WHERE id = ? AND org = ?").bind(id, org).first<MessageRow>();
}

export async function sendMessage(env: Env, org: string, messageId: string, opts: SendOptions = {}): Promise<SendOutcome> {
  const now = opts.now ?? new Date();
  const at = now.toISOString();
  const msg = await loadMessage(env.DB, messageId, org);
  if (!msg) return { kind: "skipped", reason: "missing" };
  if (!opts.manual) {
    if (msg.status === "delivered" || msg.status === "failed") return { kind: "skipped", reason: "missing" };
    if (msg.next_attempt_at > at) return { kind: "skipped", reason: "not_due", delayS: Math.ceil((Date.parse(msg.next_attempt_at) - now.getTime()) / 1000) };
    const earlier = await env.DB.prepare(
      "SELECT 1 FROM webhook_messages WHERE endpoint_id = ? AND entity_id = ? AND event_seq < ? AND status IN ('pending', 'sending') LIMIT 1",
    )
      .bind(msg.endpoint_id, msg.entity_id, msg.event_seq)
      .first();
    if (earlier) return { kind: "skipped", reason: "waiting" };
  }
  const claimed = await env.DB.prepare(
    `UPDATE webhook_messages SET status = 'sending', lease_until = ?2, updated_at = ?3
       WHERE id = ?1 AND (status IN ('pending', 'delivered', 'failed') AND (?4 = 1 OR status = 'pending') OR (status = 'sending' AND lease_until < ?3))`,
  )
    .bind(msg.id, new Date(now.getTime() + LEASE_MS).toISOString(), at, opts.manual ? 1 : 0)
    .run();
  if (claimed.meta.changes === 0) return { kind: "skipped", reason: "busy" };
  const endpoint = await env.DB.prepare("SELECT * FROM webhook_endpoints WHERE id = ?").bind(msg.endpoint_id).first<EndpointRow>();
  const ev = await env.DB.prepare("SELECT id, seq, type, data, created_at FROM webhook_events WHERE seq = ?").bind(msg.event_seq).first<EventRow>();
  if (!endpoint || !ev || endpoint.enabled !== 1) {
    const error = !endpoint
      ? "endpoint deleted"
      : !ev
        ? "event missing"
        : `endpoint disabled${endpoint.disabled_reason ? `: ${endpoint.disabled_reason}` : ""}`;
    await env.DB.prepare("UPDATE webhook_messages SET status = 'failed', lease_until = NULL, last_error = ?, updated_at = ? WHERE id = ?")
      .bind(error, at, msg.id)
      .run();
    await queueSuccessor(env, msg);
    return { kind: "failed", statusCode: null, error };
  }
  const attempt = await post(env, endpoint, ev, now, opts.fetch ?? fetch);
  const ok = attempt.statusCode !== null && attempt.statusCode >= 200 && attempt.statusCode < 300;
  const gone = attempt.statusCode === 410;
  const blocked = attempt.error?.startsWith("url_not_allowed") ?? false;
  // A manual replay is one attempt outside the schedule: a failed one leaves a scheduled message as it was
  // (its queued attempt still comes), and does not count towards the ten.
  const keepSchedule = !!opts.manual && !ok && !gone && !blocked && msg.status === "pending";
  const attempts = keepSchedule ? msg.attempts : msg.attempts + 1;
  const delayS = ok || gone || blocked || opts.manual ? null : nextDelay(attempts, attempt.retryAfterS);
  const kind = ok ? "delivered" : delayS === null && !keepSchedule ? "failed" : "retry";
  const nextAt = keepSchedule ? msg.next_attempt_at : new Date(now.getTime() + (delayS ?? 0) * 1000).toISOString();
  const statements = [
    env.DB.prepare(
      `INSERT INTO webhook_attempts (id, org, message_id, endpoint_id, attempted_at, status_code, latency_ms, response_body, error, outcome, manual)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).bind(
      newId("wha", now.getTime()),
      org,
      msg.id,
      endpoint.id,
      at,
      attempt.statusCode,
      attempt.latencyMs,
      attempt.body,
      attempt.error,
      kind,
      opts.manual ? 1 : 0,
    ),
    env.DB.prepare(
      "UPDATE webhook_messages SET status = ?, attempts = ?, next_attempt_at = ?, lease_until = NULL, last_error = ?, updated_at = ? WHERE id = ?",
    ).bind(kind === "retry" ? "pending" : kind, attempts, nextAt, attempt.error, at, msg.id),
    ok
      ? env.DB.prepare("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL").bind(endpoint.id)
      : env.DB.prepare("UPDATE webhook_endpoints SET failing_since = ? WHERE id = ? AND failing_since IS NULL").bind(at, endpoint.id),
  ];
  await env.DB.batch(statements);
  const failingFor = endpoint.failing_since ? now.getTime() - Date.parse(endpoint.failing_since) : 0;
  if (gone) await disableEndpoint(env, endpoint, "the receiver answered 410 Gone", now);
  else if (!ok && failingFor >= DISABLE_AFTER_MS) await disableEndpoint(env, endpoint, "every attempt failed for 5 days", now);
  // A kept schedule has its own queued attempt on the way; a retry queues the next; an end frees the successor.
  if (kind === "retry" && !keepSchedule) {
    await sendWebhookMessages(env.WEBHOOK_QUEUE, [{ type: "webhook_send", org, messageId: msg.id }], Math.min(delayS!, MAX_QUEUE_DELAY_S));
  } else if (kind !== "retry") {
    await queueSuccessor(env, msg);
  }
  return { kind, statusCode: attempt.statusCode, error: attempt.error, ...(delayS !== null ? { delayS } : {}) };
}

/** The next unfinished message of the same entity at the same endpoint, now free to go. */
async function queueSuccessor(env: Env, msg: MessageRow): Promise<void> {
  const next = await env.DB.prepare(
    "SELECT id FROM webhook_messages WHERE endpoint_id = ? AND entity_id = ? AND event_seq > ? AND status = 'pending' ORDER BY event_seq LIMIT 1",
  )
    .bind(msg.endpoint_id, msg.entity_id, msg.event_seq)
    .first<{ id: string }>();
  if (next) await sendWebhookMessages(env.WEBHOOK_QUEUE, [{ type: "webhook_send", org: msg.org, messageId: next.id }]);
}
