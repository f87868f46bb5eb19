/**
 * What admins do with messages: read an endpoint's deliveries and their attempts, send a `ping`,
 * resend one delivery, and recover (resend) every failed delivery since a time.
 */
import { AppError, notFound } from "../core/errors";
import { newId } from "../core/ids";
import { decodeCursor, encodeCursor } from "../core/pagination";
import type { Auth, Env } from "../env";
import { sendWebhookMessages, webhookSends } from "../queues/messages";
import { messageOfAttempt } from "./attempt-ids";
import { materialiseAll } from "./backlog";
import { PING } from "./catalogue";
import { insertMessages } from "./dispatch";
import { getEndpoint } from "./endpoints.service";
import { loadMessage, sendMessage, type SendOptions } from "./send";

interface DeliveryRow {
  id: string;
  event_id: string;
  type: string;
  event_seq: number;
  entity_id: string;
  status: "pending" | "sending" | "delivered" | "failed";
  attempts: number;
  next_attempt_at: string;
  lease_until: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}
interface AttemptRow {
  id: string;
  message_id: string;
  attempted_at: string;
  status_code: number | null;
  latency_ms: number;
  response_body: string | null;
  error: string | null;
  outcome: "delivered" | "retry" | "failed";
  manual: number;
}

const attemptView = (a: AttemptRow) => ({
  id: a.id,
  attempted_at: a.attempted_at,
  status_code: a.status_code,
  latency_ms: a.latency_ms,
  response_body: a.response_body,
  error: a.error,
  outcome: a.outcome,
  manual: a.manual === 1,
});

/**
 * GET /v1/webhook-endpoints/{id}/deliveries: the endpoint's backlog (backlog.ts: events kept without message
 * rows while it was failing) is materialised first, so the log shows every event it is owed.
 */
export async function listEndpointDeliveries(env: Env, org: string, endpointId: string, q: { limit: number; cursor?: string; status?: string }) {
  const endpoint = await getEndpoint(env.DB, org, endpointId);
  if (endpoint.backlog_from_seq !== null) await materialiseAll(env, org, endpoint);
  return listDeliveries(env.DB, org, endpointId, q);
}

/** A page newest first; `cursor` is one this list gave out, `before` an id bound used internally. */
export async function listDeliveries(d1: D1Database, org: string, endpointId: string, q: { limit: number; cursor?: string; before?: string; status?: string }) {
  await getEndpoint(d1, org, endpointId);
  const before = q.before ?? (q.cursor ? decodeCursor(q.cursor, "whd") : "");
  const { results } = await d1
    .prepare(
      `SELECT m.id, m.event_id, e.type, m.event_seq, m.entity_id, m.status, m.attempts, m.next_attempt_at, m.lease_until, m.last_error, m.created_at, m.updated_at
       FROM webhook_messages m JOIN webhook_events e ON e.seq = m.event_seq
       WHERE m.endpoint_id = ?1 AND m.org = ?2 AND (?3 = '' OR m.id < ?3)
         AND (?4 = '' OR m.status = (CASE ?4 WHEN 'sending' THEN 'pending' ELSE ?4 END) AND (?4 NOT IN ('pending', 'sending') OR (coalesce(m.lease_until, '') > ?6) = (?4 = 'sending')))
       ORDER BY m.id DESC LIMIT ?5`,
    )
    .bind(endpointId, org, before, q.status ?? "", q.limit + 1, new Date().toISOString())
    .all<DeliveryRow>();
  const rows = results.slice(0, q.limit);
  const now = new Date().toISOString();
  const { results: attempts } = await d1
    // Keyed by (message_id, id), and an attempt id starts with its time: the key's order is each message's attempts in time order.
    .prepare("SELECT * FROM webhook_attempts WHERE message_id IN (SELECT value FROM json_each(?)) ORDER BY message_id, id")
    .bind(JSON.stringify(rows.map((r) => r.id)))
    .all<AttemptRow>();
  const byMessage = new Map<string, AttemptRow[]>();
  for (const a of attempts) byMessage.set(a.message_id, [...(byMessage.get(a.message_id) ?? []), a]);
  const data = rows.map((r) => {
    const list = (byMessage.get(r.id) ?? []).map(attemptView);
    const last = list.at(-1);
    return {
      id: r.id,
      event_id: r.event_id,
      event_type: r.type,
      sequence: r.event_seq,
      entity_id: r.entity_id,
      // A message being sent right now holds a lease (send.ts); its row still says pending.
      status: r.status === "pending" && r.lease_until && r.lease_until > now ? ("sending" as const) : r.status,
      attempt_count: r.attempts,
      next_attempt_at: r.status === "pending" ? r.next_attempt_at : null,
      last_error: r.last_error,
      created_at: r.created_at,
      updated_at: r.updated_at,
      // The latest attempt, flat, for a quick look; `attempts` has every one.
      attempted_at: last?.attempted_at ?? null,
      status_code: last?.status_code ?? null,
      latency_ms: last?.latency_ms ?? null,
      error: last?.error ?? null,
      attempts: list,
    };
  });
  return { data, next_cursor: results.length > q.limit ? encodeCursor("whd", rows.at(-1)!.id) : null };
}

async function deliveryView(d1: D1Database, org: string, messageId: string) {
  const m = await loadMessage(d1, messageId, org);
  if (!m) throw notFound("webhook delivery", messageId);
  const page = await listDeliveries(d1, org, m.endpoint_id, { limit: 1, before: incrementId(m.id) });
  return page.data[0]!;
}
/** A bound just above `id`, so that a DESC page starts at it. */
const incrementId = (id: string) => `${id}~`;

/** POST /v1/webhook-endpoints/{id}/test: a `ping` event for this endpoint alone, sent now. */
export async function sendPing(env: Env, auth: Auth, endpointId: string, opts: SendOptions = {}) {
  const endpoint = await getEndpoint(env.DB, auth.org, endpointId);
  if (endpoint.enabled !== 1)
    throw new AppError("invalid_state_transition", `Webhook endpoint ${endpointId} is disabled; enable it first (PATCH enabled: true)`);
  const at = new Date().toISOString();
  const eventId = newId("evt");
  const data = JSON.stringify({ object: "webhook_endpoint", id: endpointId, ping: true });
  const inserted = await env.DB.prepare(
    "INSERT INTO webhook_events (id, org, type, entity_type, entity_id, data, created_at, dispatched_at) VALUES (?1, ?2, ?3, 'webhook_endpoint', ?4, ?5, ?6, ?6) RETURNING seq",
  )
    .bind(eventId, auth.org, PING, endpointId, data, at)
    .first<{ seq: number }>();
  const seq = inserted!.seq;
  const messageId = newId("whd");
  await insertMessages(env.DB, auth.org, [{ id: messageId, endpoint_id: endpointId, event_id: eventId, event_seq: seq, entity_id: endpointId }], at).run();
  await sendMessage(env, auth.org, messageId, { ...opts, manual: true });
  return deliveryView(env.DB, auth.org, messageId);
}

/** POST /v1/webhook-deliveries/{id}/retry: one attempt now (a delivery id, or one of its attempt ids). */
export async function retryDelivery(env: Env, auth: Auth, id: string, opts: SendOptions = {}) {
  let messageId = id;
  if (id.startsWith("wha_")) {
    // An attempt id names its message (attempt-ids.ts): the look-up is by the table's whole key.
    const a = await env.DB.prepare("SELECT message_id FROM webhook_attempts WHERE message_id = ? AND id = ? AND org = ?")
      .bind(messageOfAttempt(id), id, auth.org)
      .first<{ message_id: string }>();
    if (!a) throw notFound("webhook delivery", id);
    messageId = a.message_id;
  }
  const m = await loadMessage(env.DB, messageId, auth.org);
  if (!m) throw notFound("webhook delivery", id);
  const endpoint = await getEndpoint(env.DB, auth.org, m.endpoint_id);
  if (endpoint.enabled !== 1)
    throw new AppError("invalid_state_transition", `Webhook endpoint ${endpoint.id} is disabled; enable it first (PATCH enabled: true)`);
  const outcome = await sendMessage(env, auth.org, messageId, { ...opts, manual: true });
  if (outcome.kind === "skipped") throw new AppError("conflict", `Webhook delivery ${messageId} is being sent right now; try again in a minute`);
  return deliveryView(env.DB, auth.org, messageId);
}

/**
 * POST /v1/webhook-endpoints/{id}/recover: every delivery whose status is `failed` (attempts exhausted,
 * or created or failed while the endpoint was disabled) and that was created since `since` goes back on
 * the schedule from its start. Delivered and pending ones are left alone.
 */
export async function recoverEndpoint(env: Env, auth: Auth, endpointId: string, sinceInput: string) {
  // created_at is stored in UTC (…Z): an offset in `since` is normalised before the text comparison.
  const since = new Date(sinceInput).toISOString();
  const endpoint = await getEndpoint(env.DB, auth.org, endpointId);
  if (endpoint.enabled !== 1)
    throw new AppError("invalid_state_transition", `Webhook endpoint ${endpointId} is disabled; enable it first (PATCH enabled: true)`);
  // The backlog (events kept without rows while the endpoint was failing) becomes pending messages first;
  // those of events since `since` count as recovered.
  const materialised = endpoint.backlog_from_seq !== null ? (await materialiseAll(env, auth.org, endpoint)).filter((m) => m.created_at >= since) : [];
  const at = new Date().toISOString();
  const { results } = await env.DB.prepare(
    `UPDATE webhook_messages SET status = 'pending', attempts = 0, next_attempt_at = ?1, last_error = NULL, updated_at = ?1
       WHERE endpoint_id = ?2 AND id >= ?5 AND org = ?3 AND status = 'failed' AND created_at >= ?4 RETURNING id`,
  )
    // Message ids start with their creation time: the (endpoint, id) index reads from `since` on.
    .bind(at, endpointId, auth.org, since, newId("whd", Date.parse(since)).slice(0, 14))
    .all<{ id: string }>();
  await sendWebhookMessages(
    env.WEBHOOK_QUEUE,
    webhookSends(
      auth.org,
      results.map((r) => r.id),
      endpointId,
    ),
  );
  const ids = [...materialised.map((m) => m.id), ...results.map((r) => r.id)];
  return { endpoint_id: endpointId, since, recovered: ids.length, delivery_ids: ids };
}
