/**
 * POST /v1/events: the source's event id is the dedupe key per org. Inserting the event row is the
 * claim; whoever inserts it evaluates, every other copy answers what that evaluation recorded
 * (waiting for it while it runs). A claim whose evaluator died (lease past) is taken over, and the
 * evaluation re-runs idempotently (fixed outcome and delivery ids, pool item = delivery id).
 */
import { AppError, notFound } from "../core/errors";
import { isGuardFailure } from "../core/guard";
import { sha256HexSync } from "../core/crypto";
import type { Auth, Env } from "../env";
import { CAMPAIGN_DELIVERIES_PER_MESSAGE, sendMessages, type QueueMessage } from "../queues/messages";
import { getSettings } from "../settings/settings.service";
import { suppressedKeys } from "../settings/suppressions.service";
import type { CampaignRow } from "../campaigns/campaign-state";
import { readCustomer, type CustomerInput } from "./customer";
import { addStats, detailKey, evaluateEvents } from "./evaluate";
import type { OutcomeView } from "./outcomes";

export interface EventInput {
  id: string;
  type: string;
  occurred_at: string;
  customer: CustomerInput;
  properties?: Record<string, unknown>;
  /** Internal (scheduled triggers, src/schedules/): evaluate this campaign only, whatever the type. Not in the API schema. */
  campaign_id?: string;
}

export interface EventAnswer {
  id: string;
  outcomes: OutcomeView[];
}

/** How long an evaluation may run before another copy of the event takes it over. */
const LEASE_MS = 30_000;
/** How long a copy waits for the evaluation that holds the claim. */
const WAIT_MS = 20_000;
/** Campaigns one event type may trigger at once (each is evaluated for every event). */
const MAX_CAMPAIGNS_PER_EVENT = 50;

type BatchItem = EventAnswer | { id: string; error: { code: string; detail: string } };

/** POST /v1/events: a request of one event. */
export async function ingestEvent(env: Env, auth: Auth, input: EventInput, _requestId?: string): Promise<EventAnswer> {
  const [answer] = (await ingestEvents(env, auth, [input])).data;
  if ("error" in answer!) throw new AppError(answer.error.code as "conflict", answer.error.detail, { retry_after_seconds: 1 });
  return answer!;
}

/**
 * POST /v1/events/batch (and /v1/events, a batch of one). The whole request is claimed in one
 * statement (an event whose type no campaign listens to is recorded as done there and then),
 * evaluated together (src/events/evaluate.ts: a few D1 statements and one pool call per triggered
 * campaign), its rewards queued, and its events marked done in one statement. A copy of an event
 * answers the first evaluation: at once when done, after waiting while another request evaluates
 * it, and within this request as the first copy's answer.
 */
export async function ingestEvents(env: Env, auth: Auth, inputs: EventInput[], _requestId?: string): Promise<{ data: BatchItem[] }> {
  const org = auth.org;
  const firsts = new Map<string, EventInput>();
  for (const input of inputs) if (!firsts.has(input.id)) firsts.set(input.id, input);
  const unique = [...firsts.values()];
  const campaigns = await triggered(env.DB, org, unique);
  const now = new Date();
  const rows = unique.map((e) => {
    const payload = JSON.stringify(e);
    const listened = (campaigns.get(listenKey(e))?.length ?? 0) > 0;
    return {
      id: e.id,
      type: e.type,
      occurred_at: new Date(e.occurred_at).toISOString(),
      customer_key: readCustomer(e.customer).key,
      body_hash: sha256HexSync(payload),
      payload,
      // Nothing listens to this type: the event is recorded and answered in the claim itself.
      response: listened ? null : JSON.stringify({ id: e.id, outcomes: [] }),
    };
  });
  const { results: claimedRows } = await env.DB.prepare(
    `INSERT OR IGNORE INTO campaign_events (org, id, type, occurred_at, customer_key, status, claimed_until, body_hash, payload, response, created_by, created_at, completed_at)
     SELECT ?1, value ->> 'id', value ->> 'type', value ->> 'occurred_at', value ->> 'customer_key',
       CASE WHEN value ->> 'response' IS NULL THEN 'evaluating' ELSE 'done' END,
       CASE WHEN value ->> 'response' IS NULL THEN ?2 END, value ->> 'body_hash', value ->> 'payload', value ->> 'response', ?3, ?4,
       CASE WHEN value ->> 'response' IS NULL THEN NULL ELSE ?4 END
     FROM json_each(?5) RETURNING id`,
  )
    .bind(org, new Date(now.getTime() + LEASE_MS).toISOString(), auth.sub, now.toISOString(), JSON.stringify(rows))
    .all<{ id: string }>();
  const claimed = new Set(claimedRows.map((r) => r.id));
  const answers = new Map<string, BatchItem>();
  for (const r of rows) if (claimed.has(r.id) && r.response) answers.set(r.id, JSON.parse(r.response) as EventAnswer);

  // Copies of events seen before: answered, taken over (their evaluator died), or waited for.
  const others = unique.filter((e) => !claimed.has(e.id));
  const rerun = new Set<string>();
  if (others.length > 0) {
    const known = await readEvents(
      env.DB,
      org,
      others.map((e) => e.id),
    );
    for (const e of others) {
      const k = known.get(e.id);
      if (k?.status === "done" && k.response) answers.set(e.id, JSON.parse(k.response) as EventAnswer);
    }
    for (const id of await takeOver(
      env,
      org,
      others.filter((e) => !answers.has(e.id)).map((e) => e.id),
    ))
      rerun.add(id);
  }
  const mine = unique.filter((e) => !answers.has(e.id) && (claimed.has(e.id) || rerun.has(e.id)));
  for (const a of await evaluateClaimed(env, org, mine, campaigns, rerun)) answers.set(a.id, a);
  const waiting = unique.filter((e) => !answers.has(e.id)).map((e) => e.id);
  if (waiting.length > 0) for (const [id, a] of await awaitAnswers(env, org, waiting)) answers.set(id, a);
  return { data: inputs.map((e) => answers.get(e.id)!) };
}

/**
 * Evaluations whose request died (a crash, a timeout) and whose source never sent the event again:
 * finished from the stored payload, so a reward committed in the pool always gets its delivery.
 */
export async function finishAbandonedEvaluations(env: Env, now: Date): Promise<number> {
  const { results } = await env.DB.prepare(
    "SELECT org, id, payload FROM campaign_events WHERE status = 'evaluating' AND claimed_until < ? ORDER BY claimed_until LIMIT 50",
  )
    .bind(now.toISOString())
    .all<{ org: string; id: string; payload: string }>();
  let done = 0;
  const byOrg = new Map<string, typeof results>();
  for (const r of results) byOrg.set(r.org, [...(byOrg.get(r.org) ?? []), r]);
  for (const [org, list] of byOrg) {
    const taken = new Set(
      await takeOver(
        env,
        org,
        list.map((r) => r.id),
      ),
    );
    const inputs = list.filter((r) => taken.has(r.id)).map((r) => JSON.parse(r.payload) as EventInput);
    const campaigns = await triggered(env.DB, org, inputs);
    done += (await evaluateClaimed(env, org, inputs, campaigns, taken)).length;
  }
  return done;
}

/** Which campaigns evaluate an event: its type's, or the one a scheduled trigger's synthetic event names (`campaign_id`). */
const listenKey = (e: EventInput): string => (e.campaign_id ? `campaign:${e.campaign_id}` : e.type);

/**
 * The campaigns each of these events triggers, by `listenKey` (whatever their status: a paused one
 * answers campaign_paused): one query for the types, one more only when scheduled triggers name campaigns.
 */
async function triggered(d1: D1Database, org: string, events: EventInput[]): Promise<Map<string, CampaignRow[]>> {
  const types = [...new Set(events.filter((e) => !e.campaign_id).map((e) => e.type))];
  const ids = [...new Set(events.flatMap((e) => (e.campaign_id ? [e.campaign_id] : [])))];
  const byKey = new Map<string, CampaignRow[]>();
  if (types.length > 0) {
    const { results } = await d1
      .prepare(`SELECT * FROM campaigns WHERE org = ?1 AND trigger_event IN (SELECT value FROM json_each(?2)) ORDER BY id`)
      .bind(org, JSON.stringify(types))
      .all<Record<string, unknown>>();
    for (const r of results.map(toRow)) {
      const list = byKey.get(r.triggerEvent!) ?? [];
      if (list.length < MAX_CAMPAIGNS_PER_EVENT) list.push(r);
      byKey.set(r.triggerEvent!, list);
    }
  }
  if (ids.length > 0) {
    const { results } = await d1
      .prepare("SELECT * FROM campaigns WHERE org = ?1 AND id IN (SELECT value FROM json_each(?2))")
      .bind(org, JSON.stringify(ids))
      .all<Record<string, unknown>>();
    for (const r of results.map(toRow)) byKey.set(`campaign:${r.id}`, [r]);
  }
  return byKey;
}

/** Runs the evaluations this request holds the claims of, queues the rewards and records the answers. */
async function evaluateClaimed(env: Env, org: string, inputs: EventInput[], campaigns: Map<string, CampaignRow[]>, rerun: Set<string>): Promise<EventAnswer[]> {
  if (inputs.length === 0) return [];
  const keys = new Map(inputs.map((input) => [input.id, listenKey(input)]));
  const evs = inputs.map((input) => ({
    org,
    id: input.id,
    type: input.type,
    occurredAt: new Date(input.occurred_at).toISOString(),
    properties: input.properties ?? {},
    customer: readCustomer(input.customer),
  }));
  const settings = await getSettings(env.DB, org);
  const campaignsOf = (ev: { id: string }) => campaigns.get(keys.get(ev.id)!) ?? [];
  const listening = evs.filter((ev) => campaignsOf(ev).length > 0);
  const suppressed = await suppressedKeys(
    env.DB,
    org,
    [...new Set(listening.flatMap((ev) => (ev.customer.emailKey ? [ev.customer.emailKey] : [])))],
    [...new Set(listening.flatMap((ev) => (ev.customer.phone ? [ev.customer.phone] : [])))],
  );
  const { outcomes, deliveries, skipDetails, stats } = await evaluateEvents(
    env,
    org,
    evs.map((ev) => ({
      ev,
      campaigns: campaignsOf(ev),
      suppressed:
        (ev.customer.emailKey !== null && suppressed.has(`email:${ev.customer.emailKey}`)) ||
        (ev.customer.phone !== null && suppressed.has(`phone:${ev.customer.phone}`)),
      rerun: rerun.has(ev.id),
    })),
    settings.per_recipient_caps,
  );
  await enqueueDeliveries(env, org, deliveries);
  const answers: EventAnswer[] = evs.map((ev) => ({ id: ev.id, outcomes: outcomes.get(ev.id)!.map(({ amount: _a, ...o }) => o) }));
  // The evaluation record is the event row (its answer, and the detail of its skips) and its rewards'
  // outcome rows; the audit trail has what moved money (campaign.reward_committed) and the
  // campaign's own changes, so 1,000 skipped events do not queue on the chain. An upsert, not
  // UPDATE … FROM: SQLite would walk the org's events for each one of the request. The rows exist
  // (this request claimed them), so the insert's placeholder values are never stored.
  const done = env.DB.prepare(
    `INSERT INTO campaign_events (org, id, type, occurred_at, status, body_hash, payload, response, skip_details, created_by, created_at, completed_at)
     SELECT ?1, value ->> 'id', '', '', 'done', '', '', value ->> 'response', value ->> 'skip_details', '', ?2, ?2 FROM json_each(?3) WHERE true
     ON CONFLICT (org, id) DO UPDATE SET status = 'done', response = excluded.response, skip_details = excluded.skip_details, claimed_until = NULL,
       completed_at = excluded.completed_at
     WHERE campaign_events.status = 'evaluating'`,
  ).bind(
    org,
    new Date().toISOString(),
    JSON.stringify(
      answers.map((a) => {
        const details = skipDetails.get(a.id);
        return { id: a.id, response: JSON.stringify(a), skip_details: details ? JSON.stringify(details) : null };
      }),
    ),
  );
  // The counts are added with the answers, and only if this request recorded every one of them: a
  // slow evaluator whose claim was taken over meanwhile must not count its events twice.
  const everyOne = env.DB.prepare("INSERT INTO write_guards (stale_write) SELECT NULL WHERE changes() <> ?").bind(answers.length);
  try {
    await env.DB.batch(stats.length > 0 ? [done, everyOne, addStats(env.DB, stats)] : [done]);
  } catch (err) {
    if (!isGuardFailure(err)) throw err;
    await done.run();
  }
  return answers;
}

async function readEvents(d1: D1Database, org: string, ids: string[]): Promise<Map<string, { status: string; response: string | null }>> {
  const { results } = await d1
    .prepare("SELECT id, status, response FROM campaign_events WHERE org = ?1 AND id IN (SELECT value FROM json_each(?2))")
    .bind(org, JSON.stringify(ids))
    .all<{ id: string; status: string; response: string | null }>();
  return new Map(results.map((r) => [r.id, r]));
}

/** Claims whose evaluator stopped (their lease ran out) pass to this request: the ids it took. */
async function takeOver(env: Env, org: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const now = new Date();
  const { results } = await env.DB.prepare(
    `UPDATE campaign_events SET claimed_until = ?3 WHERE org = ?1 AND id IN (SELECT value FROM json_each(?2)) AND status = 'evaluating' AND claimed_until < ?4
     RETURNING id`,
  )
    .bind(org, JSON.stringify(ids), new Date(now.getTime() + LEASE_MS).toISOString(), now.toISOString())
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

/** Waits for other requests' evaluations of these events; one still running after WAIT_MS answers `conflict` in its place. */
async function awaitAnswers(env: Env, org: string, ids: string[]): Promise<Map<string, BatchItem>> {
  const until = Date.now() + WAIT_MS;
  const answers = new Map<string, BatchItem>();
  let left = ids;
  for (let delay = 20; left.length > 0; delay = Math.min(delay * 2, 500)) {
    const known = await readEvents(env.DB, org, left);
    for (const id of left) {
      const k = known.get(id);
      if (k?.status === "done" && k.response) answers.set(id, JSON.parse(k.response) as EventAnswer);
    }
    left = left.filter((id) => !answers.has(id));
    if (left.length === 0) break;
    if (Date.now() > until) {
      for (const id of left) answers.set(id, { id, error: { code: "conflict", detail: `Event ${id} is still being evaluated; retry` } });
      break;
    }
    await new Promise((r) => setTimeout(r, delay));
  }
  return answers;
}

/** Deliver messages per campaign (ids only, up to CAMPAIGN_DELIVERIES_PER_MESSAGE each), like a batch's fan-out. */
async function enqueueDeliveries(env: Env, org: string, deliveries: Map<string, string[]>): Promise<void> {
  const messages: QueueMessage[] = [];
  for (const [campaignId, ids] of deliveries) {
    for (let i = 0; i < ids.length; i += CAMPAIGN_DELIVERIES_PER_MESSAGE) {
      messages.push({ type: "deliver", org, campaignId, deliveryIds: ids.slice(i, i + CAMPAIGN_DELIVERIES_PER_MESSAGE) });
    }
  }
  if (messages.length) await sendMessages(env.DELIVERY_QUEUE, messages);
}

export async function getEvent(env: Env, org: string, id: string) {
  const row = await env.DB.prepare(
    "SELECT id, type, occurred_at, status, response, skip_details, created_by, created_at, completed_at FROM campaign_events WHERE org = ? AND id = ?",
  )
    .bind(org, id)
    .first<Record<string, string | null>>();
  if (!row) throw notFound("event", id);
  const { results } = await env.DB.prepare(
    `SELECT campaign_id, side, outcome, reason, amount, delivery_id, card_id, credit_id, credit_expires_at, detail, created_at FROM campaign_outcomes
     WHERE org = ? AND event_id = ? ORDER BY campaign_id, side`,
  )
    .bind(org, id)
    .all<Record<string, string | number | null>>();
  const outcomes = results.map((r) => ({
    campaign_id: String(r.campaign_id),
    ...(r.side ? { side: r.side as NonNullable<OutcomeView["side"]> } : {}),
    outcome: r.outcome as OutcomeView["outcome"],
    reason: r.reason as string | null,
    amount: r.amount as number | null,
    delivery_id: r.outcome === "rewarded" ? (r.delivery_id as string | null) : null,
    // A card_credit reward (src/events/card-credits.ts): the card, the credit and when its bonus expires.
    card_id: r.card_id as string | null,
    credit_id: r.credit_id as string | null,
    credit_expires_at: r.credit_expires_at as string | null,
    detail: r.detail as string | null,
    evaluated_at: String(r.created_at),
  }));
  // Skips have no outcome row: they are in the recorded answer, with their details beside it.
  const answered = row.response ? (JSON.parse(row.response) as EventAnswer).outcomes : [];
  const details = row.skip_details ? (JSON.parse(row.skip_details) as Record<string, string>) : {};
  const rowed = new Set(outcomes.map((o) => detailKey(o.campaign_id, o.side)));
  for (const o of answered) {
    const key = detailKey(o.campaign_id, o.side);
    if (o.outcome !== "skipped" || rowed.has(key)) continue;
    outcomes.push({
      campaign_id: o.campaign_id,
      ...(o.side ? { side: o.side } : {}),
      outcome: "skipped",
      reason: o.reason ?? null,
      amount: null,
      delivery_id: null,
      card_id: null,
      credit_id: null,
      credit_expires_at: null,
      detail: details[key] ?? null,
      evaluated_at: row.completed_at ?? row.created_at!,
    });
  }
  // By campaign, a referral's referee before its referrer (as answered).
  const order = (o: { campaign_id: string; side?: string }) => `${o.campaign_id}\n${o.side ?? ""}`;
  outcomes.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
  return {
    id: row.id!,
    type: row.type!,
    occurred_at: row.occurred_at!,
    status: row.status as "evaluating" | "done",
    received_by: row.created_by!,
    received_at: row.created_at!,
    evaluated_at: row.completed_at ?? null,
    outcomes,
  };
}

function toRow(r: Record<string, unknown>): CampaignRow {
  return {
    id: r.id,
    org: r.org,
    name: r.name,
    status: r.status,
    trigger: r.trigger,
    triggerEvent: r.trigger_event,
    rules: r.rules,
    reward: r.reward,
    productId: r.product_id,
    channel: r.channel,
    poolId: r.pool_id,
    currency: r.currency,
    budgetAmount: r.budget_amount,
    pauseAtPct: r.pause_at_pct,
    limits: r.limits,
    approvalAtOrAbove: r.approval_at_or_above,
    startsAt: r.starts_at,
    endsAt: r.ends_at,
    ownerEmail: r.owner_email,
    pausedReason: r.paused_reason,
    holdCount: r.hold_count,
    budgetReleased: r.budget_released,
    stateVersion: r.state_version,
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  } as CampaignRow;
}
