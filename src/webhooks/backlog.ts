/**
 * A failing endpoint's backlog. While an endpoint is **failing** (enabled, `failing_since` set: an attempt
 * failed and none got through since, so its breaker tripped and it is in the slow lane; or put in the slow
 * lane for leaving a send unanswered in the fast lane), the fan-out (dispatch.ts) writes no message rows for it: the first event it meets for it then becomes one message,
 * the **probe**, and `webhook_endpoints.backlog_from_seq` is set just after it; later events are left in
 * `webhook_events` (they are there anyway). The probe keeps the breaker's usual rhythm; if it ends
 * `failed` (ten attempts) while the endpoint still fails, the next backlog event is materialised as the
 * next probe, so a dead endpoint is always tried and still disabled after 5 days.
 *
 * When an attempt gets through, the run asks for a `webhook_dispatch` of the org, and the fan-out
 * materialises the backlog: the org's events from the watermark on that the endpoint subscribes to, in
 * `seq` order, BACKLOG_PAGE at a time (another `webhook_dispatch` carries on), as pending messages sent
 * as usual (per-entity order holds: their `event_seq` is above every earlier message of the endpoint).
 * A disabled endpoint's backlog is materialised as `failed` ("endpoint disabled: …", for `recover`);
 * `recover` and the deliveries log materialise the whole backlog first, so they show and resend everything.
 *
 * Nothing is lost or doubled: a page's insert and the watermark's move are one D1 batch, the watermark is
 * cleared only when no event of the org lies beyond the page (so an event committed meanwhile is in the
 * next page or gets its row from the fan-out), and messages are unique per (event, endpoint).
 */
import { newId } from "../core/ids";
import type { Env } from "../env";
import { sendWebhookMessages, webhookSends } from "../queues/messages";
import { PING, subscribes } from "./catalogue";
import { insertMessages, type NewMessage } from "./dispatch";
import type { EndpointRow } from "./endpoints.service";
import { endpointLane, laneQueue } from "./lanes";

/** Events read, and messages materialised at most, per page. */
export const BACKLOG_PAGE = 1000;

export type BacklogEndpoint = Pick<
  EndpointRow,
  "id" | "events" | "enabled" | "disabled_reason" | "failing_since" | "breaker_until" | "slow_lane_until" | "backlog_from_seq"
>;

/**
 * The rule: an enabled endpoint whose breaker tripped and that nothing got through to since (`failing_since`)
 * keeps its backlog; the fan-out also starts one for an endpoint in the slow lane for not answering within the
 * fast lane's wait (`slow_lane_until`: a hanging receiver, before its first full 15 s timeout has failed).
 */
export const keepsBacklog = (ep: Pick<EndpointRow, "enabled" | "failing_since">) => ep.enabled === 1 && !!ep.failing_since;
export const startsBacklog = (ep: Pick<EndpointRow, "enabled" | "failing_since" | "slow_lane_until">, now: Date) =>
  keepsBacklog(ep) || (ep.enabled === 1 && !!ep.slow_lane_until && ep.slow_lane_until > now.toISOString());

export interface Materialised {
  id: string;
  created_at: string;
}

/**
 * One page of the endpoint's backlog becomes message rows (at most `max`), pending (and queued on the
 * endpoint's lane) if it is enabled, else `failed`; the watermark moves past them in the same batch.
 * `done`: the backlog is empty now (or another caller moved it meanwhile).
 */
export async function materialisePage(env: Env, org: string, ep: BacklogEndpoint, max = BACKLOG_PAGE): Promise<{ messages: Materialised[]; done: boolean }> {
  const from = ep.backlog_from_seq;
  if (from === null) return { messages: [], done: true };
  const subs = JSON.parse(ep.events) as string[];
  const { results: events } = await env.DB.prepare(
    "SELECT seq, id, type, entity_id, created_at FROM webhook_events WHERE seq >= ?1 AND org = ?2 AND type <> ?3 ORDER BY seq LIMIT ?4",
  )
    .bind(from, org, PING, BACKLOG_PAGE)
    .all<{ seq: number; id: string; type: string; entity_id: string; created_at: string }>();
  const messages: NewMessage[] = [];
  let last = from - 1;
  for (const ev of events) {
    if (messages.length >= max) break;
    last = ev.seq;
    if (!subscribes(subs, ev.type)) continue;
    const m: NewMessage = { id: newId("whd"), endpoint_id: ep.id, event_id: ev.id, event_seq: ev.seq, entity_id: ev.entity_id, created_at: ev.created_at };
    if (ep.enabled !== 1) Object.assign(m, { status: "failed", last_error: `endpoint disabled${ep.disabled_reason ? `: ${ep.disabled_reason}` : ""}` });
    messages.push(m);
  }
  const at = new Date().toISOString();
  // The watermark moves in the same batch. It is cleared only when nothing of the org lies beyond this page;
  // guarded, so a concurrent page moves it once (its rows are the same ones: ignored, and not returned).
  const [moved, inserted] = await env.DB.batch<{ id: string; created_at: string }>([
    env.DB.prepare(
      `UPDATE webhook_endpoints SET backlog_from_seq = CASE WHEN EXISTS (SELECT 1 FROM webhook_events WHERE seq > ?1 AND org = ?2) THEN ?1 + 1 ELSE NULL END
       WHERE id = ?3 AND backlog_from_seq = ?4 RETURNING backlog_from_seq`,
    ).bind(last, org, ep.id, from),
    insertMessages(env.DB, org, messages, at, { returning: true }),
  ]);
  const rows = inserted!.results;
  const next = (moved!.results[0] as { backlog_from_seq: number | null } | undefined)?.backlog_from_seq;
  ep.backlog_from_seq = next ?? null;
  if (ep.enabled === 1 && rows.length > 0)
    await sendWebhookMessages(
      laneQueue(env, endpointLane(ep, new Date())),
      webhookSends(
        org,
        rows.map((r) => r.id),
        ep.id,
      ),
    );
  return { messages: rows, done: next === undefined || next === null };
}

/** The whole backlog, page after page (recover and the deliveries log: they must show and resend everything). */
export async function materialiseAll(env: Env, org: string, ep: BacklogEndpoint): Promise<Materialised[]> {
  const out: Materialised[] = [];
  for (;;) {
    const page = await materialisePage(env, org, ep);
    out.push(...page.messages);
    if (page.done) return out;
  }
}

/**
 * The fan-out's first step: a page of the backlog of each endpoint that recovered (enabled, not failing, and
 * either out of the slow lane or named in `drain`: an attempt got through) or was disabled; if any is left, one
 * more `webhook_dispatch` carries on (bounded work per invocation).
 */
export async function drainBacklogs(env: Env, org: string, endpoints: BacklogEndpoint[], drain: ReadonlySet<string>): Promise<number> {
  let total = 0;
  const more: string[] = [];
  const now = new Date();
  for (const ep of endpoints) {
    if (ep.backlog_from_seq === null || keepsBacklog(ep) || (startsBacklog(ep, now) && !drain.has(ep.id))) continue;
    const page = await materialisePage(env, org, ep);
    total += page.messages.length;
    if (!page.done) more.push(ep.id);
  }
  if (more.length > 0) await askDrain(env, org, more);
  return total;
}

/** Asks the fan-out to drain the org's backlogs (after an attempt got through to `endpoints`, or an endpoint was disabled). */
export const askDrain = (env: Env, org: string, endpoints: string[] = []) =>
  sendWebhookMessages(env.WEBHOOK_QUEUE, [{ type: "webhook_dispatch", org, ...(endpoints.length > 0 ? { drain: endpoints.slice(0, 100) } : {}) }]);
