/**
 * POST /v1/events: the source's event id is the dedupe key per org. Inserting the event row is the
 * claim; whoever inserts it evaluates, every other copy answers what that evaluation recorded
 * (waiting for it while it runs). A claim whose evaluator died (lease past) is taken over, and the
 * evaluation re-runs idempotently (fixed outcome and delivery ids, pool item = delivery id).
 */
import { AppError, notFound } from "../core/errors";
import { sha256Hex } from "../core/crypto";
import type { Auth, Env } from "../env";
import { sendMessages, type QueueMessage } from "../queues/messages";
import { getSettings } from "../settings/settings.service";
import { suppressedKeys } from "../settings/suppressions.service";
import type { CampaignRow } from "../campaigns/campaign-state";
import { readCustomer, type CustomerInput } from "./customer";
import { evaluateCampaign, type EventFacts } from "./evaluate";
import { referralOf } from "../campaigns/referral-spec";
import { evaluateReferral } from "./referral";
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

export async function ingestEvent(env: Env, auth: Auth, input: EventInput, _requestId?: string): Promise<EventAnswer> {
  const occurredAt = new Date(input.occurred_at).toISOString();
  const customer = readCustomer(input.customer);
  const now = new Date();
  const payload = JSON.stringify(input);
  const claim = await env.DB.prepare(
    `INSERT OR IGNORE INTO campaign_events (org, id, type, occurred_at, customer_key, status, claimed_until, body_hash, payload, created_by, created_at)
     VALUES (?1, ?2, ?3, ?4, ?5, 'evaluating', ?6, ?7, ?8, ?9, ?10)`,
  )
    .bind(
      auth.org,
      input.id,
      input.type,
      occurredAt,
      customer.key,
      new Date(now.getTime() + LEASE_MS).toISOString(),
      await sha256Hex(payload),
      payload,
      auth.sub,
      now.toISOString(),
    )
    .run();
  if (claim.meta.changes === 0 && !(await takeOver(env, auth.org, input.id))) return awaitAnswer(env, auth.org, input.id);
  return evaluateClaimed(env, auth.org, input);
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
  for (const r of results) {
    if (!(await takeOver(env, r.org, r.id))) continue;
    await evaluateClaimed(env, r.org, JSON.parse(r.payload) as EventInput);
    done += 1;
  }
  return done;
}

/** Runs the evaluation this caller holds the claim of, records the answer and queues the rewards. */
async function evaluateClaimed(env: Env, org: string, input: EventInput): Promise<EventAnswer> {
  const auth = { org };
  const occurredAt = new Date(input.occurred_at).toISOString();
  const customer = readCustomer(input.customer);
  const ev: EventFacts = { org: auth.org, id: input.id, type: input.type, occurredAt, properties: input.properties ?? {}, customer };
  const { results: matching } = await (input.campaign_id
    ? env.DB.prepare("SELECT * FROM campaigns WHERE org = ?1 AND id = ?2").bind(auth.org, input.campaign_id)
    : env.DB.prepare(`SELECT * FROM campaigns WHERE org = ?1 AND trigger_event = ?2 ORDER BY id LIMIT ${MAX_CAMPAIGNS_PER_EVENT}`).bind(auth.org, input.type)
  ).all<Record<string, unknown>>();
  const outcomes: OutcomeView[] = [];
  if (matching.length > 0) {
    const settings = await getSettings(env.DB, auth.org);
    const suppressed = (await suppressedKeys(env.DB, auth.org, customer.emailKey ? [customer.emailKey] : [], customer.phone ? [customer.phone] : [])).size > 0;
    for (const raw of matching) {
      const c = toRow(raw);
      const shared = { perRecipientCaps: settings.per_recipient_caps, suppressed };
      // A referral campaign answers two outcomes, one per side (src/events/referral.ts).
      const referral = referralOf(c);
      if (referral) outcomes.push(...(await evaluateReferral(env, c, ev, shared, referral)));
      else outcomes.push(await evaluateCampaign(env, c, ev, shared));
    }
  }
  await enqueueDeliveries(env, auth.org, outcomes);
  const answer: EventAnswer = { id: input.id, outcomes: outcomes.map(({ amount: _a, ...o }) => o) };
  // The evaluation record is the event row and its outcomes; the audit trail has what moved money
  // (campaign.reward_committed) and the campaign's own changes, so 1,000 skipped events do not queue on the chain.
  await env.DB.prepare("UPDATE campaign_events SET status = 'done', response = ?3, claimed_until = NULL, completed_at = ?4 WHERE org = ?1 AND id = ?2")
    .bind(auth.org, input.id, JSON.stringify(answer), new Date().toISOString())
    .run();
  return answer;
}

/** A claim whose evaluator stopped (its lease ran out) passes to this request. */
async function takeOver(env: Env, org: string, id: string): Promise<boolean> {
  const now = new Date();
  const r = await env.DB.prepare("UPDATE campaign_events SET claimed_until = ?3 WHERE org = ?1 AND id = ?2 AND status = 'evaluating' AND claimed_until < ?4")
    .bind(org, id, new Date(now.getTime() + LEASE_MS).toISOString(), now.toISOString())
    .run();
  return r.meta.changes > 0;
}

async function awaitAnswer(env: Env, org: string, id: string): Promise<EventAnswer> {
  const until = Date.now() + WAIT_MS;
  for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
    const row = await env.DB.prepare("SELECT status, response FROM campaign_events WHERE org = ? AND id = ?")
      .bind(org, id)
      .first<{ status: string; response: string | null }>();
    if (row?.status === "done" && row.response) return JSON.parse(row.response) as EventAnswer;
    if (Date.now() > until) throw new AppError("conflict", `Event ${id} is still being evaluated; retry`, { retry_after_seconds: 1 });
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** One deliver message per campaign (ids only), like a batch's fan-out. */
async function enqueueDeliveries(env: Env, org: string, outcomes: OutcomeView[]): Promise<void> {
  const messages: QueueMessage[] = outcomes
    .filter((o) => o.outcome === "rewarded" && o.delivery_id)
    .map((o) => ({ type: "deliver", org, campaignId: o.campaign_id, deliveryIds: [o.delivery_id!] }));
  if (messages.length) await sendMessages(env.DELIVERY_QUEUE, messages);
}

/** The batch route: each event on its own, in order; one that fails answers its error in place. */
export async function ingestEvents(env: Env, auth: Auth, inputs: EventInput[], requestId?: string) {
  const data: ({ id: string; outcomes: OutcomeView[] } | { id: string; error: { code: string; detail: string } })[] = [];
  for (const input of inputs) {
    try {
      data.push(await ingestEvent(env, auth, input, requestId));
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      data.push({ id: input.id, error: { code: err.code, detail: err.message } });
    }
  }
  return { data };
}

export async function getEvent(env: Env, org: string, id: string) {
  const row = await env.DB.prepare(
    "SELECT id, type, occurred_at, status, response, created_by, created_at, completed_at FROM campaign_events WHERE org = ? AND id = ?",
  )
    .bind(org, id)
    .first<Record<string, string | null>>();
  if (!row) throw notFound("event", id);
  const { results } = await env.DB.prepare(
    "SELECT campaign_id, side, outcome, reason, amount, delivery_id, detail, created_at FROM campaign_outcomes WHERE org = ? AND event_id = ? ORDER BY campaign_id, side",
  )
    .bind(org, id)
    .all<Record<string, string | number | null>>();
  return {
    id: row.id!,
    type: row.type!,
    occurred_at: row.occurred_at!,
    status: row.status as "evaluating" | "done",
    received_by: row.created_by!,
    received_at: row.created_at!,
    evaluated_at: row.completed_at ?? null,
    outcomes: results.map((r) => ({
      campaign_id: String(r.campaign_id),
      ...(r.side ? { side: r.side as NonNullable<OutcomeView["side"]> } : {}),
      outcome: r.outcome as OutcomeView["outcome"],
      reason: r.reason as string | null,
      amount: r.amount as number | null,
      delivery_id: r.outcome === "rewarded" ? (r.delivery_id as string | null) : null,
      detail: r.detail as string | null,
      evaluated_at: String(r.created_at),
    })),
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
