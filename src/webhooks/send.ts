/**
 * Sends webhook messages, many at a time: read them with their events (one statement), claim them
 * (a lease, one statement), send each endpoint's messages in parallel while one entity's messages go
 * one after the other in sequence order, then record every attempt and outcome (one D1 batch) and
 * queue what comes next (src/webhooks/send-run.ts).
 *
 * Ordering: a message waits while an earlier one of the same entity and endpoint is unfinished; the
 * one that finishes queues its successor. Breaker: after a failed attempt an endpoint's messages that
 * have not started are put off, without an attempt, until `breaker_until` (src/webhooks/breaker.ts);
 * then one probe goes first, and only it is claimed until it got through. Lanes: in the fast lane a
 * failing or slow endpoint's messages are handed to the slow lane (src/webhooks/lanes.ts). So a dead
 * endpoint costs a few attempts, not one per message, and never holds up the others.
 */
import type { Env } from "../env";
import { breakerOpen } from "./breaker";
import { checkResolvedHost } from "./dns-guard";
import type { EndpointRow } from "./endpoints.service";
import { endpointLane, laneTimeoutMs } from "./lanes";
import { type Attempt, type EventRow, post, SendTimeout, signers } from "./post";
import { type EndpointRun, type MessageRow, queueNext, record, recordAttempt, type Row, Run, type SendOptions, type SendOutcome } from "./send-run";
import { checkEndpointUrl } from "./url-guard";

export { payloadOf, RESPONSE_KEEP_BYTES } from "./post";
export type { MessageRow, SendOptions, SendOutcome } from "./send-run";

const LEASE_MS = 60_000;
/** Sends in flight per endpoint in one invocation (Workers allow 6 open connections; more wait their turn). */
export const PER_ENDPOINT_IN_FLIGHT = 10;

export async function loadMessage(d1: D1Database, id: string, org: string) {
  return d1.prepare("SELECT * FROM webhook_messages WHERE id = ? AND org = ?").bind(id, org).first<MessageRow>();
}

/** Sends one message (see sendMessages). */
export async function sendMessage(env: Env, org: string, messageId: string, opts: SendOptions = {}): Promise<SendOutcome> {
  return (await sendMessages(env, org, [messageId], opts)).get(messageId) ?? { kind: "skipped", reason: "missing" };
}

export async function sendMessages(env: Env, org: string, ids: string[], opts: SendOptions = {}): Promise<Map<string, SendOutcome>> {
  const run = new Run(env, org, opts.now ?? new Date(), opts);
  const rows = await readMessages(env.DB, org, ids);
  const endpoints = await readEndpoints(env.DB, [...new Set(rows.map((r) => r.endpoint_id))]);
  // One entity's messages at one endpoint, in sequence order: a chain sent one after the other.
  const chains = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.endpoint_id}\n${r.entity_id}`;
    const chain = chains.get(key);
    if (chain) chain.push(r);
    else chains.set(key, [r]);
  }
  const byEndpoint = new Map<string, Row[][]>();
  for (const chain of chains.values()) {
    const list = byEndpoint.get(chain[0]!.endpoint_id);
    if (list) list.push(chain);
    else byEndpoint.set(chain[0]!.endpoint_id, [chain]);
  }
  // A half-open endpoint's probe goes first: only its chain is claimed now, the rest once it got through.
  const held = new Set<string>();
  for (const [id, list] of byEndpoint)
    if (halfOpen(run, endpoints.get(id)) && list.length > 1) for (const c of list.slice(1)) for (const r of c) held.add(r.id);
  const claimed = await claim(
    run,
    rows.filter((r) => !held.has(r.id)),
    endpoints,
  );
  await Promise.all([...byEndpoint].map(([id, list]) => sendEndpoint(run, endpoints, endpoints.get(id), list, claimed)));
  await record(run, endpoints);
  await queueNext(run, endpoints);
  return run.outcomes;
}

/** After a failure the breaker closed again: the next run sends one probe first (manual sends aside). */
const halfOpen = (run: Run, ep: EndpointRow | undefined) => !run.opts.manual && !!ep?.breaker_until && !breakerOpen(ep, run.now);

/** The fast lane does not send to an endpoint that belongs in the slow one. */
const handsOver = (run: Run, ep: EndpointRow) => run.opts.lane === "fast" && !run.opts.manual && endpointLane(ep, run.now) === "slow";

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
    return ep?.enabled === 1 && open(r) && !r.blocked && r.next_attempt_at <= at && !breakerOpen(ep, run.now) && !handsOver(run, ep);
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

async function sendEndpoint(
  run: Run,
  endpoints: Map<string, EndpointRow>,
  endpoint: EndpointRow | undefined,
  chains: Row[][],
  claimed: Set<string>,
): Promise<void> {
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
  if (!opts.manual && (breakerOpen(endpoint, run.now) || handsOver(run, endpoint))) {
    // Put off until the breaker closes, or handed to the slow lane now (queueNext picks the lane).
    const delayS = breakerOpen(endpoint, run.now) ? Math.ceil((Date.parse(endpoint.breaker_until!) - run.now.getTime()) / 1000) : 0;
    for (const chain of chains) deferChain(run, chain, 0, delayS, endpoint.id);
    return;
  }
  const ep = await prepareEndpoint(run, endpoint);
  // Half-open: one chain goes first as the probe; the rest are claimed and sent only if it got through.
  const queue = [...chains];
  if (halfOpen(run, endpoint) && queue.length > 1) {
    await sendChain(run, ep, queue.shift()!, claimed);
    if (ep.trippedS !== null || ep.moved) {
      for (const chain of queue) deferChain(run, chain, 0, ep.trippedS ?? 0, endpoint.id, false);
      return;
    }
    for (const id of await claim(run, queue.flat(), endpoints)) claimed.add(id);
  }
  const workers = Array.from({ length: Math.min(PER_ENDPOINT_IN_FLIGHT, queue.length) }, async () => {
    for (let chain = queue.shift(); chain; chain = queue.shift()) await sendChain(run, ep, chain, claimed);
  });
  await Promise.all(workers);
}

async function prepareEndpoint(run: Run, endpoint: EndpointRow): Promise<EndpointRun> {
  const verdict = checkEndpointUrl(endpoint.url, run.env.ENVIRONMENT);
  const timeout = new SendTimeout(laneTimeoutMs(run.opts.lane ?? "slow", run.opts.manual));
  const ep: EndpointRun = { endpoint, url: null, blockedReason: null, unavailable: false, keys: [], timeout, trippedS: null, moved: false };
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
  ep.keys = await signers(run.env, endpoint, run.now);
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
      if (r.blocked) return holdChain(run, chain, i);
      if (r.next_attempt_at > run.at) {
        const delayS = Math.ceil((Date.parse(r.next_attempt_at) - run.now.getTime()) / 1000);
        run.outcomes.set(r.id, { kind: "skipped", reason: "not_due", delayS });
        run.requeue.push({ id: r.id, delayS, endpointId: r.endpoint_id });
        return holdChain(run, chain, i + 1);
      }
      if (ep.trippedS !== null) return deferChain(run, chain, i, ep.trippedS, ep.endpoint.id);
      if (ep.moved) return deferChain(run, chain, i, 0, ep.endpoint.id);
    }
    if (!claimed.has(r.id)) {
      run.outcomes.set(r.id, { kind: "skipped", reason: "busy" });
      return holdChain(run, chain, i + 1);
    }
    const kind = await attempt(run, ep, r);
    if (kind !== "delivered" && kind !== "failed") return holdChain(run, chain, i + 1);
  }
}

/** The rest of a chain waits for its earlier message; leases taken for it are given back. */
function holdChain(run: Run, chain: Row[], from: number): void {
  for (const r of chain.slice(from)) {
    if (run.outcomes.has(r.id)) continue;
    run.outcomes.set(r.id, { kind: "skipped", reason: "waiting" });
    run.release.push(r.id);
  }
}

/**
 * An open breaker, or the slow lane's turn: the chain is put off, without an attempt (its head is queued
 * again, on its endpoint's lane, after `delayS`). `leased` false: nothing of it was claimed, nothing to give back.
 */
function deferChain(run: Run, chain: Row[], from: number, delayS: number, endpointId: string, leased = true): void {
  const head = chain.slice(from).find((r) => r.status === "pending" || r.status === "sending");
  if (!head) return;
  for (const r of chain.slice(from)) {
    run.outcomes.set(r.id, { kind: "skipped", reason: r === head ? "deferred" : "waiting", ...(r === head ? { delayS } : {}) });
    if (leased) run.release.push(r.id);
  }
  run.requeue.push({ id: head.id, delayS, endpointId });
}

async function attempt(run: Run, ep: EndpointRun, r: Row): Promise<SendOutcome["kind"]> {
  const ev: EventRow = { id: r.event_id, seq: r.event_seq, type: r.type, data: r.data, created_at: r.event_created_at };
  const a: Attempt = ep.url
    ? await post(ep.url, ep.keys, ev, run.now, run.opts.fetch ?? fetch, ep.timeout)
    : { statusCode: null, latencyMs: 0, body: null, error: `url_not_allowed: ${ep.blockedReason}`, retryAfterS: null };
  // A guard that could not run (DNS-over-HTTPS down) is a failure to retry; a refused address is final.
  return recordAttempt(run, ep, r, a, !ep.url && !ep.unavailable);
}
