/**
 * What one run of sends decided (src/webhooks/send.ts reads, claims and sends): every attempt and
 * outcome, written in one D1 batch (`record`), then what comes next queued (`queueNext`): retries on
 * the schedule, chains put off by a breaker or handed to the slow lane, and the successor of every
 * message that ended, each on the lane its endpoint belongs in (src/webhooks/lanes.ts).
 */
import type { Env } from "../env";
import { sendWebhookMessages, webhookSends } from "../queues/messages";
import { attemptId } from "./attempt-ids";
import { askDrain, keepsBacklog, materialisePage } from "./backlog";
import { breakerDelayS } from "./breaker";
import { disableEndpoint } from "./disable";
import type { EndpointRow } from "./endpoints.service";
import { endpointLane, type Lane, laneQueue, SLOW_LANE_HOLD_MS } from "./lanes";
import type { Attempt, SendTimeout } from "./post";
import { DISABLE_AFTER_MS, MAX_QUEUE_DELAY_S, nextDelay } from "./retry-schedule";

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
export interface Row extends MessageRow {
  type: string;
  data: string;
  event_created_at: string;
  blocked: number;
}

export interface SendOptions {
  now?: Date;
  /** The outbound fetch (tests may pass a fake receiver). */
  fetch?: typeof fetch;
  /** A replay asked for by an admin: one attempt now, whatever the schedule, the order or the breaker. */
  manual?: boolean;
  /**
   * The queue's lane the run serves (the consumer says which). In the fast lane a failing or slow endpoint's
   * messages are handed to the slow lane and a send waits at most 2 s; without a lane (direct calls) the
   * run sends to whatever endpoint it meets and waits the full 15 s.
   */
  lane?: Lane;
}

export type SendOutcome =
  | { kind: "delivered" | "failed" | "retry"; statusCode: number | null; error: string | null; delayS?: number }
  | { kind: "skipped"; reason: "missing" | "not_due" | "busy" | "waiting" | "deferred"; delayS?: number };

/** Endpoint-level state of one run: signers, the guard's verdict, and whether an attempt failed (the breaker trips). */
export interface EndpointRun {
  endpoint: EndpointRow;
  url: string | null;
  blockedReason: string | null;
  unavailable: boolean;
  /** The endpoint's signing keys (src/webhooks/post.ts `signers`). */
  keys: CryptoKey[];
  timeout: SendTimeout;
  trippedS: number | null;
  /** A send got no answer within the fast lane's wait: the rest go to the slow lane. */
  moved: boolean;
}

/** Per endpoint: whether an attempt got through, failed (410 aside), met a 410 or went unanswered in the fast lane. */
interface EndpointResult {
  ok: boolean;
  failed: boolean;
  gone: boolean;
  moved: boolean;
  breakerS: number;
}

/** What one run decided; written in one batch and queued at the end. */
export class Run {
  outcomes = new Map<string, SendOutcome>();
  attempts: unknown[] = [];
  updates: { id: string; status: string; attempts: number; next: string; error: string | null }[] = [];
  release: string[] = [];
  requeue: { id: string; delayS: number; endpointId: string }[] = [];
  ended: Row[] = [];
  endpoints = new Map<string, EndpointResult>();
  constructor(
    readonly env: Env,
    readonly org: string,
    readonly now: Date,
    readonly opts: SendOptions,
  ) {}
  get at() {
    return this.now.toISOString();
  }
  result(endpointId: string): EndpointResult {
    const r = this.endpoints.get(endpointId) ?? { ok: false, failed: false, gone: false, moved: false, breakerS: 0 };
    this.endpoints.set(endpointId, r);
    return r;
  }
}

/** Records one attempt's answer on the run: the attempt row, the message's new state, what is queued next, the breaker. */
export function recordAttempt(run: Run, ep: EndpointRun, r: Row, a: Attempt, blocked: boolean): SendOutcome["kind"] {
  const { opts, now } = run;
  const ok = a.statusCode !== null && a.statusCode >= 200 && a.statusCode < 300;
  const gone = a.statusCode === 410;
  // No answer within the fast lane's wait: handed to the slow lane, which sends it again at once with the
  // full timeout. The attempt is recorded (a request went out) but does not count towards the ten.
  const moved = opts.lane === "fast" && !opts.manual && a.timedOut === true;
  // A manual replay is one attempt outside the schedule: a failed one leaves a scheduled message as it was
  // (its queued attempt still comes), and does not count towards the ten.
  const keepSchedule = moved || (!!opts.manual && !ok && !gone && !blocked && (r.status === "pending" || r.status === "sending"));
  const attempts = keepSchedule ? r.attempts : r.attempts + 1;
  const delayS = ok || gone || blocked || opts.manual || moved ? null : nextDelay(attempts, a.retryAfterS);
  const kind = ok ? "delivered" : delayS === null && !keepSchedule ? "failed" : "retry";
  const next = keepSchedule && !moved ? r.next_attempt_at : delayS ? new Date(now.getTime() + delayS * 1000).toISOString() : run.at;
  run.attempts.push({
    id: attemptId(r.id, now),
    message_id: r.id,
    endpoint_id: ep.endpoint.id,
    status_code: a.statusCode,
    latency_ms: a.latencyMs,
    response_body: a.body,
    error: a.error,
    outcome: kind,
    manual: opts.manual ? 1 : 0,
  });
  run.updates.push({ id: r.id, status: kind === "retry" ? "pending" : kind, attempts, next, error: a.error });
  run.outcomes.set(r.id, { kind, statusCode: a.statusCode, error: a.error, ...(delayS !== null ? { delayS } : moved ? { delayS: 0 } : {}) });
  if (moved) run.requeue.push({ id: r.id, delayS: 0, endpointId: ep.endpoint.id });
  else if (kind === "retry" && !keepSchedule) run.requeue.push({ id: r.id, delayS: delayS!, endpointId: ep.endpoint.id });
  if (kind === "delivered" || kind === "failed") run.ended.push(r);
  const res = run.result(ep.endpoint.id);
  if (ok) res.ok = true;
  else if (gone) res.gone = true;
  else if (moved) res.moved = ep.moved = true;
  else res.failed = true;
  if (!ok && !moved && !opts.manual) {
    // The breaker trips: this endpoint's messages not yet started are put off (a 410 disables it, so they fail then).
    ep.trippedS = Math.max(ep.trippedS ?? 0, gone ? 1 : breakerDelayS(ep.endpoint, now, a.retryAfterS));
    res.breakerS = ep.trippedS;
  }
  return kind;
}

/** One D1 batch: the attempts, the messages' new states, leases given back, the endpoints' failure clocks, breakers and lanes. */
export async function record(run: Run, endpoints: Map<string, EndpointRow>): Promise<void> {
  const { env, org, at } = run;
  const statements: D1PreparedStatement[] = [];
  if (run.attempts.length > 0) {
    statements.push(
      env.DB.prepare(
        `INSERT INTO webhook_attempts (id, org, message_id, endpoint_id, attempted_at, status_code, latency_ms, response_body, error, outcome, manual)
         SELECT value ->> 'id', ?2, value ->> 'message_id', value ->> 'endpoint_id', ?3, value ->> 'status_code', value ->> 'latency_ms',
                value ->> 'response_body', value ->> 'error', value ->> 'outcome', value ->> 'manual'
         FROM json_each(?1)`,
      ).bind(JSON.stringify(run.attempts), org, at),
    );
  }
  if (run.updates.length > 0) {
    statements.push(
      env.DB.prepare(
        `UPDATE webhook_messages SET status = u.value ->> 'status', attempts = u.value ->> 'attempts', next_attempt_at = u.value ->> 'next',
           lease_until = NULL, last_error = u.value ->> 'error', updated_at = ?2
         FROM json_each(?1) AS u WHERE webhook_messages.id = u.value ->> 'id'`,
      ).bind(JSON.stringify(run.updates), at),
    );
  }
  if (run.release.length > 0) {
    statements.push(
      env.DB.prepare("UPDATE webhook_messages SET lease_until = NULL WHERE id IN (SELECT value FROM json_each(?)) AND lease_until IS NOT NULL").bind(
        JSON.stringify(run.release),
      ),
    );
  }
  for (const [id, r] of run.endpoints) {
    const ep = endpoints.get(id)!;
    if (r.failed || r.gone) {
      const until = new Date(run.now.getTime() + r.breakerS * 1000).toISOString();
      statements.push(
        env.DB.prepare("UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, ?1), breaker_until = ?2 WHERE id = ?3").bind(
          at,
          r.breakerS > 0 ? until : ep.breaker_until,
          id,
        ),
      );
    } else if (r.moved) {
      const until = new Date(run.now.getTime() + SLOW_LANE_HOLD_MS).toISOString();
      statements.push(env.DB.prepare("UPDATE webhook_endpoints SET slow_lane_until = ?1 WHERE id = ?2").bind(until, id));
    } else if (r.ok && (ep.failing_since || ep.breaker_until)) {
      statements.push(env.DB.prepare("UPDATE webhook_endpoints SET failing_since = NULL, breaker_until = NULL WHERE id = ?").bind(id));
    }
  }
  if (statements.length > 0) await env.DB.batch(statements);
  for (const [id, r] of run.endpoints) {
    const ep = endpoints.get(id)!;
    const failingFor = ep.failing_since ? run.now.getTime() - Date.parse(ep.failing_since) : 0;
    if (r.gone) await disableEndpoint(env, ep, "the receiver answered 410 Gone", run.now);
    else if (r.failed && failingFor >= DISABLE_AFTER_MS) await disableEndpoint(env, ep, "every attempt failed for 5 days", run.now);
  }
}

/** The lane an endpoint's next messages go to after this run: what the run saw, else what its row said. */
function laneAfter(run: Run, endpoints: Map<string, EndpointRow>, endpointId: string): Lane {
  const r = run.endpoints.get(endpointId);
  if (r && (r.failed || r.gone || r.moved)) return "slow";
  const ep = endpoints.get(endpointId);
  if (!ep) return "fast";
  if (r?.ok) return endpointLane({ ...ep, failing_since: null, breaker_until: null }, run.now);
  return endpointLane(ep, run.now);
}

/** Retries on their schedule, chains put off or handed over, and the successor of every message that ended, each on its lane. */
export async function queueNext(run: Run, endpoints: Map<string, EndpointRow>): Promise<void> {
  const { env, org } = run;
  // Per lane and delay, one group per endpoint (groups name their endpoint, so a consumer can put one off unread).
  const bodies = new Map<string, { lane: Lane; delay: number; groups: Map<string, string[]> }>();
  const add = (lane: Lane, delayS: number, endpointId: string, id: string) => {
    const delay = Math.min(delayS, MAX_QUEUE_DELAY_S);
    const key = `${lane} ${delay}`;
    const entry = bodies.get(key) ?? { lane, delay, groups: new Map<string, string[]>() };
    entry.groups.set(endpointId, [...(entry.groups.get(endpointId) ?? []), id]);
    bodies.set(key, entry);
  };
  for (const q of run.requeue) add(laneAfter(run, endpoints, q.endpointId), q.delayS, q.endpointId, q.id);
  // The next message of each entity whose message ended here (only the last of its chain in this run).
  const last = new Map<string, Row>();
  for (const r of run.ended) last.set(`${r.endpoint_id}\n${r.entity_id}`, r);
  if (last.size > 0) {
    const inRun = new Set(run.outcomes.keys());
    const { results } = await env.DB.prepare(
      `SELECT j.value ->> 'e' AS endpoint_id,
              (SELECT n.id FROM webhook_messages n WHERE n.endpoint_id = j.value ->> 'e' AND n.entity_id = j.value ->> 'n'
                 AND n.event_seq > j.value ->> 's' AND n.status IN ('pending', 'sending') ORDER BY n.event_seq LIMIT 1) AS next
       FROM json_each(?1) j`,
    )
      .bind(JSON.stringify([...last.values()].map((r) => ({ e: r.endpoint_id, n: r.entity_id, s: r.event_seq }))))
      .all<{ endpoint_id: string; next: string | null }>();
    for (const r of results) if (r.next && !inRun.has(r.next)) add(laneAfter(run, endpoints, r.endpoint_id), 0, r.endpoint_id, r.next);
  }
  await nextBacklog(run, endpoints);
  for (const { lane, delay, groups } of bodies.values()) {
    await sendWebhookMessages(
      laneQueue(env, lane),
      [...groups].flatMap(([endpointId, ids]) => webhookSends(org, ids, endpointId)),
      delay,
    );
  }
}

/**
 * An endpoint with a backlog (backlog.ts): once an attempt got through, the fan-out is asked to drain it; while
 * it still fails, a probe that ended `failed` is followed by the next backlog event as the next probe.
 */
async function nextBacklog(run: Run, endpoints: Map<string, EndpointRow>): Promise<void> {
  const drain: string[] = [];
  for (const [id, r] of run.endpoints) {
    const ep = endpoints.get(id);
    if (!ep || ep.backlog_from_seq === null || ep.enabled !== 1 || r.gone) continue;
    if (r.ok) drain.push(id);
    else if (!run.opts.manual && run.ended.some((m) => m.endpoint_id === id && run.outcomes.get(m.id)?.kind === "failed")) {
      const probe = { ...ep, failing_since: ep.failing_since ?? run.at };
      if (!keepsBacklog(probe)) continue;
      for (let page = await materialisePage(run.env, run.org, probe, 1); page.messages.length === 0 && !page.done; )
        page = await materialisePage(run.env, run.org, probe, 1);
    }
  }
  if (drain.length > 0) await askDrain(run.env, run.org, drain);
}
