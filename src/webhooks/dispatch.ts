/**
 * Fan-out: an org's outbox events that are not dispatched yet become one message row per matching
 * endpoint (INSERT OR IGNORE on (event, endpoint), so a repeated dispatch adds nothing), and the
 * event is marked dispatched in the same transaction. Each enabled endpoint's new messages are then
 * queued in groups of 100 (src/queues/messages.ts `webhookSends`); a message that must wait for an
 * earlier one of its entity is picked up when that one ends (send.ts).
 *
 * A disabled endpoint still gets its messages, as `failed` with no attempt ("endpoint disabled"):
 * nothing is sent to it, and once it is enabled again `recover { since }` resends what it missed.
 *
 * A failing endpoint gets no rows (backlog.ts): the first event it meets becomes its probe, its watermark
 * `backlog_from_seq` is set just after it (in the same batch), and later events wait in `webhook_events`
 * until it recovers. The watermark is only ever lowered here (`min`), even if the endpoint recovered meanwhile
 * (its probe, or the sweep, then drains it), so an event skipped here is always in a backlog; one that gets a
 * row here and is also in a backlog is not doubled (messages are unique per event and endpoint). Each dispatch
 * first drains a page of the backlog of every endpoint that recovered or was disabled.
 */
import { newId } from "../core/ids";
import type { Env } from "../env";
import { sendWebhookMessages, webhookSends } from "../queues/messages";
import { type BacklogEndpoint, drainBacklogs, startsBacklog } from "./backlog";
import { subscribes } from "./catalogue";
import { endpointLane, laneQueue } from "./lanes";

const PAGE = 500;
/**
 * Pages fanned out per invocation; if events remain, one more `webhook_dispatch` carries on behind the sends
 * just queued. Bounded work per invocation, and the sends start (and meet a dead endpoint) while a burst is
 * still being fanned out, so the rest of the burst goes to that endpoint's backlog (backlog.ts), not to rows.
 */
export const PAGES_PER_DISPATCH = 4;

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
  /** Absent: the insert's time (a backlog's messages carry their event's time). */
  created_at?: string;
}

/** `drain`: endpoints an attempt got through to, whose backlogs are drained even while they are in the slow lane. */
export async function dispatchOrg(env: Env, org: string, drain: ReadonlySet<string> = new Set()): Promise<number> {
  let total = 0;
  for (let page = 0; ; page++) {
    const { results: endpoints } = await env.DB.prepare(
      "SELECT id, events, enabled, disabled_reason, failing_since, breaker_until, slow_lane_until, backlog_from_seq FROM webhook_endpoints WHERE org = ?",
    )
      .bind(org)
      .all<BacklogEndpoint>();
    if (page === 0) total += await drainBacklogs(env, org, endpoints, drain);
    const { results: events } = await env.DB.prepare(
      "SELECT seq, id, type, entity_id FROM webhook_events WHERE org = ? AND dispatched_at IS NULL ORDER BY seq LIMIT ?",
    )
      .bind(org, PAGE)
      .all<PendingEvent>();
    if (events.length === 0) return total;
    const subs = endpoints.map((e) => ({ ...e, events: JSON.parse(e.events) as string[] }));
    const now = new Date();
    const at = now.toISOString();
    const byEndpoint = new Map<string, string[]>();
    const messages: NewMessage[] = [];
    const entering: { id: string; from: number }[] = [];
    for (const ev of events) {
      for (const s of subs) {
        if (!subscribes(s.events, ev.type)) continue;
        // Kept in the endpoint's backlog (backlog.ts); a failing endpoint's first event here is its probe.
        if (s.backlog_from_seq !== null && ev.seq >= s.backlog_from_seq) continue;
        if (s.backlog_from_seq === null && startsBacklog(s, now)) {
          s.backlog_from_seq = ev.seq + 1;
          entering.push({ id: s.id, from: ev.seq + 1 });
        }
        const m: NewMessage = { id: newId("whd"), endpoint_id: s.id, event_id: ev.id, event_seq: ev.seq, entity_id: ev.entity_id };
        if (s.enabled !== 1) Object.assign(m, { status: "failed", last_error: `endpoint disabled${s.disabled_reason ? `: ${s.disabled_reason}` : ""}` });
        else if (byEndpoint.has(s.id)) byEndpoint.get(s.id)!.push(m.id);
        else byEndpoint.set(s.id, [m.id]);
        messages.push(m);
      }
    }
    await env.DB.batch([
      ...entering.map((b) =>
        env.DB.prepare("UPDATE webhook_endpoints SET backlog_from_seq = min(coalesce(backlog_from_seq, ?1), ?1) WHERE id = ?2").bind(b.from, b.id),
      ),
      insertMessages(env.DB, org, messages, at),
      env.DB.prepare("UPDATE webhook_events SET dispatched_at = ? WHERE seq IN (SELECT value FROM json_each(?))").bind(
        at,
        JSON.stringify(events.map((e) => e.seq)),
      ),
    ]);
    // The rest of a burst is fanned out by one more invocation, queued ahead of this page's sends: it runs beside
    // them (sent after them, it would wait alone for the queue's batch timeout), and sees what they met.
    const more = events.length === PAGE && page + 1 >= PAGES_PER_DISPATCH;
    if (more) await sendWebhookMessages(env.WEBHOOK_QUEUE, [{ type: "webhook_dispatch", org }]);
    // Each endpoint's groups go to its lane: a failing or slow endpoint's straight to the slow queue.
    for (const lane of ["fast", "slow"] as const) {
      const groups = [...byEndpoint].filter(([endpointId]) => endpointLane(subs.find((e) => e.id === endpointId)!, now) === lane);
      if (groups.length > 0)
        await sendWebhookMessages(
          laneQueue(env, lane),
          groups.flatMap(([endpointId, ids]) => webhookSends(org, ids, endpointId)),
        );
    }
    total += messages.length;
    if (events.length < PAGE || more) return total;
  }
}

/**
 * One statement inserting `messages` (unique per event and endpoint: a repeat adds nothing). `returning`: the
 * statement returns the ids (and created_at) of the rows it inserted.
 */
export function insertMessages(d1: D1Database, org: string, messages: NewMessage[], at: string, opts: { returning?: boolean } = {}) {
  return d1
    .prepare(
      `INSERT OR IGNORE INTO webhook_messages (id, org, endpoint_id, event_id, event_seq, entity_id, status, attempts, next_attempt_at, last_error, created_at, updated_at)
       SELECT value ->> 'id', ?2, value ->> 'endpoint_id', value ->> 'event_id', value ->> 'event_seq', value ->> 'entity_id',
              coalesce(value ->> 'status', 'pending'), 0, ?3, value ->> 'last_error', coalesce(value ->> 'created_at', ?3), ?3
       FROM json_each(?1)${opts.returning ? " RETURNING id, created_at" : ""}`,
    )
    .bind(JSON.stringify(messages), org, at);
}
