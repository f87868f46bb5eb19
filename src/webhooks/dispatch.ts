/**
 * Fan-out: an org's outbox events that are not dispatched yet become one message row per matching
 * endpoint (INSERT OR IGNORE on (event, endpoint), so a repeated dispatch adds nothing), and the
 * event is marked dispatched in the same transaction. Each enabled endpoint's new messages are then
 * queued in groups of 100 (src/queues/messages.ts `webhookSends`); a message that must wait for an
 * earlier one of its entity is picked up when that one ends (send.ts).
 *
 * A disabled endpoint still gets its messages, as `failed` with no attempt ("endpoint disabled"):
 * nothing is sent to it, and once it is enabled again `recover { since }` resends what it missed.
 */
import { newId } from "../core/ids";
import type { Env } from "../env";
import { sendWebhookMessages, webhookSends } from "../queues/messages";
import { subscribes } from "./catalogue";
import type { EndpointRow } from "./endpoints.service";
import { endpointLane, laneQueue } from "./lanes";

const PAGE = 500;

interface PendingEvent {
  seq: number;
  id: string;
  type: string;
  entity_id: string;
}

export interface NewMessage {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_seq: number;
  entity_id: string;
  /** Absent: pending. */
  status?: "failed";
  last_error?: string;
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
    const { results: endpoints } = await env.DB.prepare(
      "SELECT id, events, enabled, disabled_reason, failing_since, breaker_until, slow_lane_until FROM webhook_endpoints WHERE org = ?",
    )
      .bind(org)
      .all<Pick<EndpointRow, "id" | "events" | "enabled" | "disabled_reason" | "failing_since" | "breaker_until" | "slow_lane_until">>();
    const subs = endpoints.map((e) => ({ ...e, events: JSON.parse(e.events) as string[] }));
    const at = new Date().toISOString();
    const byEndpoint = new Map<string, string[]>();
    const messages: NewMessage[] = [];
    for (const ev of events) {
      for (const s of subs) {
        if (!subscribes(s.events, ev.type)) continue;
        const m: NewMessage = { id: newId("whd"), endpoint_id: s.id, event_id: ev.id, event_seq: ev.seq, entity_id: ev.entity_id };
        if (s.enabled !== 1) Object.assign(m, { status: "failed", last_error: `endpoint disabled${s.disabled_reason ? `: ${s.disabled_reason}` : ""}` });
        else if (byEndpoint.has(s.id)) byEndpoint.get(s.id)!.push(m.id);
        else byEndpoint.set(s.id, [m.id]);
        messages.push(m);
      }
    }
    await env.DB.batch([
      insertMessages(env.DB, org, messages, at),
      env.DB.prepare("UPDATE webhook_events SET dispatched_at = ? WHERE seq IN (SELECT value FROM json_each(?))").bind(
        at,
        JSON.stringify(events.map((e) => e.seq)),
      ),
    ]);
    // Each endpoint's groups go to its lane: a failing or slow endpoint's straight to the slow queue.
    const now = new Date();
    for (const lane of ["fast", "slow"] as const) {
      const groups = [...byEndpoint].filter(([endpointId]) => endpointLane(subs.find((e) => e.id === endpointId)!, now) === lane);
      if (groups.length > 0)
        await sendWebhookMessages(
          laneQueue(env, lane),
          groups.flatMap(([endpointId, ids]) => webhookSends(org, ids, endpointId)),
        );
    }
    total += messages.length;
    if (events.length < PAGE) return total;
  }
}

export function insertMessages(d1: D1Database, org: string, messages: NewMessage[], at: string) {
  return d1
    .prepare(
      `INSERT OR IGNORE INTO webhook_messages (id, org, endpoint_id, event_id, event_seq, entity_id, status, attempts, next_attempt_at, last_error, created_at, updated_at)
       SELECT value ->> 'id', ?2, value ->> 'endpoint_id', value ->> 'event_id', value ->> 'event_seq', value ->> 'entity_id',
              coalesce(value ->> 'status', 'pending'), 0, ?3, value ->> 'last_error', ?3, ?3
       FROM json_each(?1)`,
    )
    .bind(JSON.stringify(messages), org, at);
}
