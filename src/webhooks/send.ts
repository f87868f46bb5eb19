/**
 * Sends webhook messages, many at a time: read them with their events (one statement), claim them
 * (a lease, one statement), send each endpoint's messages in parallel while one entity's messages go
 * one after the other in sequence order, record every attempt and outcome (one D1 batch), then queue
 * what comes next: retries on the schedule, the next message of each entity whose message ended, and
 * whatever an open breaker put off.
 *
 * Ordering: a message waits while an earlier one of the same entity and endpoint is unfinished; the
 * one that finishes queues its successor. Breaker: after a failed attempt an endpoint's messages that
 * have not started are put off, without an attempt, until `breaker_until` (src/webhooks/breaker.ts);
 * then one probe goes first. So a dead endpoint costs a few attempts, not one per message, and never
 * holds up the others.
 */
import { newId } from "../core/ids";
import type { Env } from "../env";
import { sendWebhookMessages, webhookSends } from "../queues/messages";
import { breakerDelayS, breakerOpen } from "./breaker";
import { disableEndpoint } from "./disable";
import { checkResolvedHost } from "./dns-guard";
import type { EndpointRow } from "./endpoints.service";
import { type Attempt, type EventRow, post, SendTimeout, signers } from "./post";
import { DISABLE_AFTER_MS, MAX_QUEUE_DELAY_S, nextDelay } from "./retry-schedule";
import { checkEndpointUrl } from "./url-guard";

export { payloadOf, RESPONSE_KEEP_BYTES } from "./post";

const LEASE_MS = 60_000;
/** Sends in flight per endpoint in one invocation (Workers allow 6 open connections; more wait their turn). */
export const PER_ENDPOINT_IN_FLIGHT = 10;

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
interface Row extends MessageRow {
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
}

export type SendOutcome =
  | { kind: "delivered" | "failed" | "retry"; statusCode: number | null; error: string | null; delayS?: number }
  | { kind: "skipped"; reason: "missing" | "not_due" | "busy" | "waiting" | "deferred"; delayS?: number };

export async function loadMessage(d1: D1Database, id: string, org: string) {
  return d1.prepare("SELECT * FROM webhook_messages WHERE id = ? AND org = ?").bind(id, org).first<MessageRow>();
}

/** Sends one message (see sendMessages). */
export async function sendMessage(env: Env, org: string, messageId: string, opts: SendOptions = {}): Promise<SendOutcome> {
  return (await sendMessages(env, org, [messageId], opts)).get(messageId) ?? { kind: "skipped", reason: "missing" };
}

/** What one run decided; written in one batch and queued at the end. */
class Run {
  outcomes = new Map<string, SendOutcome>();
  attempts: unknown[] = [];
  updates: { id: string; status: string; attempts: number; next: string; error: string | null }[] = [];
  release: string[] = [];
  requeue: { id: string; delayS: number; endpointId?: string }[] = [];
  ended: Row[] = [];
  /** Per endpoint: whether an attempt got through, failed (410 aside) or met a 410, and how long its breaker opens. */
  endpoints = new Map<string, { ok: boolean; failed: boolean; gone: boolean; breakerS: number }>();
  constructor(
    readonly env: Env,
    readonly org: string,
    readonly now: Date,
    readonly opts: SendOptions,
  ) {}
  get at() {
    return this.now.toISOString();
  }
}

export async function sendMessages(env: Env, org: string, ids: string[], opts: SendOptions = {}): Promise<Map<string, SendOutcome>> {
  const run = new Run(env, org, opts.now ?? new Date(), opts);
  const rows = await readMessages(env.DB, org, ids);
  const endpoints = await readEndpoints(env.DB, [...new Set(rows.map((r) => r.endpoint_id))]);
  // One entity's messages at one endpoint, in sequence order: a chain sent one after the other.
  const chains = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.endpoint_id}\n${r.entity_id}`;
    chains.set(key, [...(chains.get(key) ?? []), r]);
  }
  const byEndpoint = new Map<string, Row[][]>();
  for (const chain of chains.values()) byEndpoint.set(chain[0]!.endpoint_id, [...(byEndpoint.get(chain[0]!.endpoint_id) ?? []), chain]);
  const claimed = await claim(run, rows, endpoints);
  await Promise.all([...byEndpoint].map(([id, list]) => sendEndpoint(run, endpoints.get(id), list, claimed)));
  await record(run, endpoints);
  await queueNext(run);
  return run.outcomes;
}

async function readMessages(d1: D1Database, org: string, ids: string[]): Promise<Row[]> {
  const { results } = await d1
    .prepare(
      `SELECT m.id, m.org, m.endpoint_id, m.event_id, m.event_seq, m.entity_id, m.status, m.attempts, m.next_attempt_at, m.lease_until,
         e.type, e.data, e.created_at AS event_created_at,
         EXISTS (SELECT 1 FROM webhook_messages p WHERE p.endpoint_id = m.endpoint_id AND p.entity_id = m.entity_id AND p.event_seq < m.event_seq
                 AND p.status IN ('pending', 'sending') AND p.id NOT IN (SELECT value FROM json_each(?1))) AS blocked
       FROM webhook_messages m JOIN webhook_events e ON e.seq = m.event_seq
       WHERE m.id IN (SELECT value FROM json_each(?1)) AND m.org = ?2
       ORDER BY m.event_seq`,
    )
    .bind(JSON.stringify([...new Set(ids)]), org)
    .all<Row>();
  return results;
}

export async function readEndpoints(d1: D1Database, ids: string[]): Promise<Map<string, EndpointRow>> {
  if (ids.length === 0) return new Map();
  const { results } = await d1
    .prepare("SELECT * FROM webhook_endpoints WHERE id IN (SELECT value FROM json_each(?))")
    .bind(JSON.stringify(ids))
    .all<EndpointRow>();
  return new Map(results.map((e) => [e.id, e]));
}

/** Leases every message that may be sent now (one statement; a lease is the only write before the send). */
async function claim(run: Run, rows: Row[], endpoints: Map<string, EndpointRow>): Promise<Set<string>> {
  const { env, at, opts } = run;
  const open = (r: Row) => r.status === "pending" || r.status === "sending";
  const candidates = rows.filter((r) => {
    const ep = endpoints.get(r.endpoint_id);
    if (opts.manual) return !!ep;
    return ep?.enabled === 1 && open(r) && !r.blocked && r.next_attempt_at <= at && !breakerOpen(ep, run.now);
  });
  if (candidates.length === 0) return new Set();
  const { results } = await env.DB.prepare(
    `UPDATE webhook_messages SET lease_until = ?2
       WHERE id IN (SELECT value FROM json_each(?1)) AND (?4 = 1 OR status IN ('pending', 'sending')) AND (lease_until IS NULL OR lease_until < ?3)
       RETURNING id`,
  )
    .bind(JSON.stringify(candidates.map((r) => r.id)), new Date(run.now.getTime() + LEASE_MS).toISOString(), at, opts.manual ? 1 : 0)
    .all<{ id: string }>();
  return new Set(results.map((r) => r.id));
}

/** Endpoint-level state of one run: signers, the guard's verdict, and whether an attempt failed (the breaker trips). */
interface EndpointRun {
  endpoint: EndpointRow;
  url: string | null;
  blockedReason: string | null;
  unavailable: boolean;
  hooks: Awaited<ReturnType<typeof signers>>;
  timeout: SendTimeout;
  trippedS: number | null;
}

async function sendEndpoint(run: Run, endpoint: EndpointRow | undefined, chains: Row[][], claimed: Set<string>): Promise<void> {
  const { opts } = run;
  if (endpoint?.enabled !== 1) {
    // Deleted, or disabled: the message fails without an attempt; `recover` resends it once the endpoint is enabled again.
    const error = !endpoint ? "endpoint deleted" : `endpoint disabled${endpoint.disabled_reason ? `: ${endpoint.disabled_reason}` : ""}`;
    for (const chain of chains)
      for (const r of chain) {
        if (r.status !== "pending" && r.status !== "sending") continue;
        run.updates.push({ id: r.id, status: "failed", attempts: r.attempts, next: r.next_attempt_at, error });
        run.outcomes.set(r.id, { kind: "failed", statusCode: null, error });
        run.ended.push(r);
      }
    return;
  }
  if (!opts.manual && breakerOpen(endpoint, run.now)) {
    const delayS = Math.ceil((Date.parse(endpoint.breaker_until!) - run.now.getTime()) / 1000);
    for (const chain of chains) deferChain(run, chain, 0, delayS, endpoint.id);
    return;
  }
  const ep = await prepareEndpoint(run, endpoint);
  // Half-open: after a failure, one chain goes first as the probe; the rest only if it got through.
  const queue = [...chains];
  if (endpoint.breaker_until && !opts.manual && queue.length > 1) await sendChain(run, ep, queue.shift()!, claimed);
  const workers = Array.from({ length: Math.min(PER_ENDPOINT_IN_FLIGHT, queue.length) }, async () => {
    for (let chain = queue.shift(); chain; chain = queue.shift()) await sendChain(run, ep, chain, claimed);
  });
  await Promise.all(workers);
}

async function prepareEndpoint(run: Run, endpoint: EndpointRow): Promise<EndpointRun> {
  const verdict = checkEndpointUrl(endpoint.url, run.env.ENVIRONMENT);
  const ep: EndpointRun = { endpoint, url: null, blockedReason: null, unavailable: false, hooks: [], timeout: new SendTimeout(), trippedS: null };
  if (!verdict.ok) {
    ep.blockedReason = verdict.reason;
    return ep;
  }
  const dns = await checkResolvedHost(verdict.url, run.env.ENVIRONMENT);
  if (!dns.ok) {
    ep.blockedReason = dns.reason;
    ep.unavailable = !!dns.unavailable;
    return ep;
  }
  ep.url = verdict.url.toString();
  ep.hooks = await signers(run.env, endpoint, run.now);
  return ep;
}

/** Sends a chain's messages in order; the first that does not end (retry, waiting, put off) holds the rest back. */
async function sendChain(run: Run, ep: EndpointRun, chain: Row[], claimed: Set<string>): Promise<void> {
  for (let i = 0; i < chain.length; i++) {
    const r = chain[i]!;
    if (!run.opts.manual) {
      if (r.status === "delivered" || r.status === "failed") {
        run.outcomes.set(r.id, { kind: "skipped", reason: "missing" });
        continue;
      }
      if (r.blocked) return holdChain(run, chain, i, "waiting");
      if (r.next_attempt_at > run.at) {
        const delayS = Math.ceil((Date.parse(r.next_attempt_at) - run.now.getTime()) / 1000);
        run.outcomes.set(r.id, { kind: "skipped", reason: "not_due", delayS });
        run.requeue.push({ id: r.id, delayS });
        return holdChain(run, chain, i + 1, "waiting");
      }
      if (ep.trippedS !== null) return deferChain(run, chain, i, ep.trippedS, ep.endpoint.id);
    }
    if (!claimed.has(r.id)) {
      run.outcomes.set(r.id, { kind: "skipped", reason: "busy" });
      return holdChain(run, chain, i + 1, "waiting");
    }
    const kind = await attempt(run, ep, r);
    if (kind !== "delivered" && kind !== "failed") return holdChain(run, chain, i + 1, "waiting");
  }
}

/** The rest of a chain waits for its earlier message; leases taken for it are given back. */
function holdChain(run: Run, chain: Row[], from: number, reason: "waiting"): void {
  for (const r of chain.slice(from)) {
    if (run.outcomes.has(r.id)) continue;
    run.outcomes.set(r.id, { kind: "skipped", reason });
    run.release.push(r.id);
  }
}

/** An open breaker: the chain is put off, without an attempt, until it closes (its head is queued again). */
function deferChain(run: Run, chain: Row[], from: number, delayS: number, endpointId: string): void {
  const head = chain.slice(from).find((r) => r.status === "pending" || r.status === "sending");
  if (!head) return;
  for (const r of chain.slice(from)) {
    run.outcomes.set(r.id, { kind: "skipped", reason: r === head ? "deferred" : "waiting", ...(r === head ? { delayS } : {}) });
    run.release.push(r.id);
  }
  run.requeue.push({ id: head.id, delayS, endpointId });
}

async function attempt(run: Run, ep: EndpointRun, r: Row): Promise<SendOutcome["kind"]> {
  const { opts, now } = run;
  const ev: EventRow = { id: r.event_id, seq: r.event_seq, type: r.type, data: r.data, created_at: r.event_created_at };
  const a: Attempt = ep.url
    ? await post(ep.url, ep.hooks, ev, now, opts.fetch ?? fetch, ep.timeout)
    : { statusCode: null, latencyMs: 0, body: null, error: `url_not_allowed: ${ep.blockedReason}`, retryAfterS: null };
  // A guard that could not run (DNS-over-HTTPS down) is a failure to retry; a refused address is final.
  const blocked = !ep.url && !ep.unavailable;
  const ok = a.statusCode !== null && a.statusCode >= 200 && a.statusCode < 300;
  const gone = a.statusCode === 410;
  // A manual replay is one attempt outside the schedule: a failed one leaves a scheduled message as it was
  // (its queued attempt still comes), and does not count towards the ten.
  const keepSchedule = !!opts.manual && !ok && !gone && !blocked && (r.status === "pending" || r.status === "sending");
  const attempts = keepSchedule ? r.attempts : r.attempts + 1;
  const delayS = ok || gone || blocked || opts.manual ? null : nextDelay(attempts, a.retryAfterS);
  const kind = ok ? "delivered" : delayS === null && !keepSchedule ? "failed" : "retry";
  const next = keepSchedule ? r.next_attempt_at : new Date(now.getTime() + (delayS ?? 0) * 1000).toISOString();
  run.attempts.push({
    id: newId("wha", now.getTime()),
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
  run.outcomes.set(r.id, { kind, statusCode: a.statusCode, error: a.error, ...(delayS !== null ? { delayS } : {}) });
  if (kind === "retry" && !keepSchedule) run.requeue.push({ id: r.id, delayS: delayS! });
  if (kind === "delivered" || kind === "failed") run.ended.push(r);
  const res = run.endpoints.get(ep.endpoint.id) ?? { ok: false, failed: false, gone: false, breakerS: 0 };
  if (ok) res.ok = true;
  else if (gone) res.gone = true;
  else res.failed = true;
  if (!ok && !opts.manual) {
    // The breaker trips: this endpoint's messages not yet started are put off (a 410 disables it, so they fail then).
    ep.trippedS = Math.max(ep.trippedS ?? 0, gone ? 1 : breakerDelayS(ep.endpoint, now, a.retryAfterS));
    res.breakerS = ep.trippedS;
  }
  run.endpoints.set(ep.endpoint.id, res);
  return kind;
}

/** One D1 batch: the attempts, the messages' new states, leases given back, the endpoints' failure clocks and breakers. */
async function record(run: Run, endpoints: Map<string, EndpointRow>): Promise<void> {
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
  const sent = run.endpoints;
  for (const [id, r] of sent) {
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
    } else if (r.ok && (ep.failing_since || ep.breaker_until)) {
      statements.push(env.DB.prepare("UPDATE webhook_endpoints SET failing_since = NULL, breaker_until = NULL WHERE id = ?").bind(id));
    }
  }
  if (statements.length > 0) await env.DB.batch(statements);
  for (const [id, r] of sent) {
    const ep = endpoints.get(id)!;
    const failingFor = ep.failing_since ? run.now.getTime() - Date.parse(ep.failing_since) : 0;
    if (r.gone) await disableEndpoint(env, ep, "the receiver answered 410 Gone", run.now);
    else if (r.failed && failingFor >= DISABLE_AFTER_MS) await disableEndpoint(env, ep, "every attempt failed for 5 days", run.now);
  }
}

/** Retries on their schedule, chains put off by a breaker, and the successor of every message that ended. */
async function queueNext(run: Run): Promise<void> {
  const { env, org } = run;
  const bodies = new Map<number, { ids: string[]; endpointId?: string }[]>();
  for (const q of run.requeue) {
    const delay = Math.min(q.delayS, MAX_QUEUE_DELAY_S);
    const groups = bodies.get(delay) ?? [];
    const g = groups.find((x) => x.endpointId === q.endpointId);
    if (g) g.ids.push(q.id);
    else groups.push({ ids: [q.id], endpointId: q.endpointId });
    bodies.set(delay, groups);
  }
  for (const [delay, groups] of bodies) {
    await sendWebhookMessages(
      env.WEBHOOK_QUEUE,
      groups.flatMap((g) => webhookSends(org, g.ids, g.endpointId)),
      delay,
    );
  }
  // The next message of each entity whose message ended here (only the last of its chain in this run).
  const last = new Map<string, Row>();
  for (const r of run.ended) last.set(`${r.endpoint_id}\n${r.entity_id}`, r);
  const inRun = new Set(run.outcomes.keys());
  if (last.size === 0) return;
  const { results } = await env.DB.prepare(
    `SELECT (SELECT n.id FROM webhook_messages n WHERE n.endpoint_id = j.value ->> 'e' AND n.entity_id = j.value ->> 'n'
               AND n.event_seq > j.value ->> 's' AND n.status IN ('pending', 'sending') ORDER BY n.event_seq LIMIT 1) AS next
     FROM json_each(?1) j`,
  )
    .bind(JSON.stringify([...last.values()].map((r) => ({ e: r.endpoint_id, n: r.entity_id, s: r.event_seq }))))
    .all<{ next: string | null }>();
  const next = results.map((r) => r.next).filter((id): id is string => !!id && !inRun.has(id));
  if (next.length > 0) await sendWebhookMessages(env.WEBHOOK_QUEUE, webhookSends(org, next));
}
