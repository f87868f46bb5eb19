/**
 * Fan-out: an org's outbox events that are not dispatched yet become one message row per matching
 * enabled endpoint (INSERT OR IGNORE on (event, endpoint), so a repeated dispatch adds nothing), and
 * the event is marked dispatched in the same transaction. Then each new message is queued for sending;
 * a message that must wait for an earlier one of its entity is picked up when that one ends (send.ts).
 */
import { newId } from "../core/ids";
import type { Env } from "../env";
import { sendWebhookMessages } from "../queues/messages";
import { subscribes } from "./catalogue";

const PAGE = 100;

interface PendingEvent {
  seq: number;
  id: string;
  type: string;
  entity_id: string;
}

export async function dispatchOrg(env: Env, org: string): Promise<number> {
  let total = 0;
  for (;;) {
    const { results: events } = await env.DB.prepare(
      "SELECT seq, id, type, entity_id FROM webhook_events WHERE org = ? AND dispatched_at IS NULL ORDER BY seq LIMIT ?",
    )
      .bind(org, PAGE)
      .all<PendingEvent>();
    if (events.length === 0) return total;
    const { results: endpoints } = await env.DB.prepare("SELECT id, events FROM webhook_endpoints WHERE org = ? AND enabled = 1")
      .bind(org)
      .all<{ id: string; events: string }>();
    const subs = endpoints.map((e) => ({ id: e.id, events: JSON.parse(e.events) as string[] }));
    const at = new Date().toISOString();
    const messages = events.flatMap((ev) =>
      subs
        .filter((s) => subscribes(s.events, ev.type))
        .map((s) => ({ id: newId("whd"), endpoint_id: s.id, event_id: ev.id, event_seq: ev.seq, entity_id: ev.entity_id })),
    );
    await env.DB.batch([
      insertMessages(env.DB, org, messages, at),
      env.DB.prepare("UPDATE webhook_events SET dispatched_at = ? WHERE seq IN (SELECT value FROM json_each(?))").bind(
        at,
        JSON.stringify(events.map((e) => e.seq)),
      ),
    ]);
    await sendWebhookMessages(
      env.WEBHOOK_QUEUE,
      messages.map((m) => ({ type: "webhook_send" as const, org, messageId: m.id })),
    );
    total += messages.length;
    if (events.length < PAGE) return total;
  }
}

export function insertMessages(
  d1: D1Database,
  org: string,
  messages: { id: string; endpoint_id: string; event_id: string; event_seq: number; entity_id: string }[],
  at: string,
) {
  return d1
    .prepare(
      `INSERT OR IGNORE INTO webhook_messages (id, org, endpoint_id, event_id, event_seq, entity_id, status, attempts, next_attempt_at, created_at, updated_at)
       SELECT value ->> 'id', ?2, value ->> 'endpoint_id', value ->> 'event_id', value ->> 'event_seq', value ->> 'entity_id', 'pending', 0, ?3, ?3, ?3
       FROM json_each(?1)`,
    )
    .bind(JSON.stringify(messages), org, at);
}
