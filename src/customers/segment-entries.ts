/**
 * `segment_entered` campaigns: each entry of a customer into a segment is evaluated once, as a
 * synthetic event through the events service (src/events/events.service.ts `ingestEvent`), so it has
 * the event pipeline's dedupe, evaluation record, caps, budget and delivery:
 *
 * - id `segment:<segment id>:<customer hash>:<entry number>` (the hash of the org and external id, so
 *   no personal data sits in an event id, which erasure could not change); a re-run of the same entry
 *   answers the first evaluation and never rewards twice;
 * - type `segment_entered/<segment id>`: the `trigger_event` of the segment's campaigns, which no
 *   posted event can carry (event types refuse `/`);
 * - `occurred_at` the entry's time; `customer` the stored profile; `properties` `{ segment_id, entry }`.
 *
 * The membership row is the outbox: `entries > fired` marks entries still to evaluate. The request
 * that made the change evaluates a few at once; the five-minute sweep evaluates the rest (an import's,
 * or those of a request that died).
 *
 * `include_existing: true` on a campaign's trigger also rewards the customers inside the segment when
 * the campaign became active: the sweep pages through the members and evaluates each one's current
 * entry for that campaign alone (same event id, so a customer whose entry the campaign already
 * evaluated is not rewarded again).
 */
import { sha256Hex } from "../core/crypto";
import type { Env } from "../env";
import { ingestEvent, type EventInput } from "../events/events.service";
import { addStats, evaluateEvents } from "../events/evaluate";
import { readCustomer } from "../events/customer";
import { requireCampaign } from "../campaigns/campaigns.service";
import { DELIVERIES_PER_MESSAGE, sendMessages } from "../queues/messages";
import { getSettings } from "../settings/settings.service";
import { suppressedKeys } from "../settings/suppressions.service";
import type { CustomerRow } from "./customer-store";
import type { Entry } from "./profile-changes";

/** Entries a request evaluates itself (each is a few D1 queries per campaign); the sweep does the rest. */
export const ENTRIES_PER_REQUEST = 20;
const SWEEP_ENTRIES = 200;
const SWEEP_MS = 20_000;
const SYSTEM = "system:segments";

export async function entryEventId(org: string, segmentId: string, externalId: string, entry: number): Promise<string> {
  return `segment:${segmentId}:${(await sha256Hex(`${org}\n${externalId}`)).slice(0, 24)}:${entry}`;
}

function customerInput(c: CustomerRow) {
  return {
    external_id: c.external_id,
    ...(c.email ? { email: c.email } : {}),
    ...(c.phone ? { phone: c.phone } : {}),
    ...(c.name ? { name: c.name } : {}),
    ...(c.country ? { country: c.country } : {}),
    attributes: JSON.parse(c.attributes) as Record<string, unknown>,
  };
}

async function entryEvent(org: string, segmentId: string, c: CustomerRow, entry: number, at: string): Promise<EventInput> {
  return {
    id: await entryEventId(org, segmentId, c.external_id, entry),
    type: `segment_entered/${segmentId}`,
    occurred_at: at,
    customer: customerInput(c),
    properties: { segment_id: segmentId, entry },
  };
}

/** Evaluates the unfired entries of one member (usually one), then marks them fired. */
export async function fireMember(env: Env, org: string, segmentId: string, externalId: string): Promise<number> {
  const row = await env.DB.prepare(
    `SELECT m.entries AS m_entries, m.fired AS m_fired, m.changed_at AS m_changed_at, c.* FROM segment_members m
     JOIN customers c ON c.org = m.org AND c.external_id = m.external_id
     WHERE m.org = ?1 AND m.segment_id = ?2 AND m.external_id = ?3`,
  )
    .bind(org, segmentId, externalId)
    .first<CustomerRow & { m_entries: number; m_fired: number; m_changed_at: string }>();
  if (!row || row.m_entries <= row.m_fired) return 0;
  for (let n = row.m_fired + 1; n <= row.m_entries; n++) {
    await ingestEvent(env, { org, sub: SYSTEM, roles: [] }, await entryEvent(org, segmentId, row, n, row.m_changed_at));
  }
  await env.DB.prepare("UPDATE segment_members SET fired = ?4 WHERE org = ?1 AND segment_id = ?2 AND external_id = ?3 AND fired < ?4")
    .bind(org, segmentId, externalId, row.m_entries)
    .run();
  return row.m_entries - row.m_fired;
}

/** One member's entries, or a logged failure: the entry stays unfired and the sweep takes it again. */
async function tryFire(env: Env, org: string, segmentId: string, externalId: string): Promise<number> {
  try {
    return await fireMember(env, org, segmentId, externalId);
  } catch (err) {
    console.error(JSON.stringify({ job: "segment-entries", org, segment_id: segmentId, error: String(err) }));
    return 0;
  }
}

/**
 * The entries a request's changes caused: the first few evaluated now, the rest left to the sweep.
 * A failure here never fails the profile change that caused it (the entry waits for the sweep).
 */
export async function fireEntries(env: Env, org: string, entries: Entry[], limit = ENTRIES_PER_REQUEST): Promise<void> {
  for (const e of entries.slice(0, limit)) await tryFire(env, org, e.segmentId, e.externalId);
}

/** Cron: entries still unfired (an import's beyond the first few, or a request that died), oldest first. */
export async function sweepSegmentEntries(env: Env, now: Date): Promise<number> {
  const until = Date.now() + SWEEP_MS;
  const { results } = await env.DB.prepare(
    `SELECT org, segment_id, external_id FROM segment_members WHERE entries > fired AND changed_at <= ?1 ORDER BY changed_at LIMIT ${SWEEP_ENTRIES}`,
  )
    .bind(now.toISOString())
    .all<{ org: string; segment_id: string; external_id: string }>();
  let fired = 0;
  for (const r of results) {
    if (Date.now() > until) break;
    fired += await tryFire(env, r.org, r.segment_id, r.external_id);
  }
  await rewardExistingMembers(env, until);
  return fired;
}

/** Members per page of an `include_existing` campaign's first reward run. */
const EXISTING_PAGE = 50;

/**
 * `include_existing` campaigns: the members inside when the campaign became active get their current
 * entry evaluated by that campaign. Progress is kept in `segment_campaign_runs` (one row per campaign).
 */
async function rewardExistingMembers(env: Env, until: number): Promise<void> {
  const { results: campaigns } = await env.DB.prepare(
    `SELECT c.id, c.org, c.trigger, r.after_id FROM campaigns c LEFT JOIN segment_campaign_runs r ON r.campaign_id = c.id
     WHERE c.status = 'active' AND c.trigger_event >= 'segment_entered/' AND c.trigger_event < 'segment_entered0'
       AND json_extract(c.trigger, '$.include_existing') = 1 AND coalesce(r.done, 0) = 0
     LIMIT 10`,
  ).all<{ id: string; org: string; trigger: string; after_id: string | null }>();
  for (const c of campaigns) {
    while (Date.now() < until) {
      const done = await rewardExistingPage(env, c.org, c.id, (JSON.parse(c.trigger) as { segment_id: string }).segment_id, c.after_id ?? "");
      c.after_id = done.after;
      if (done.finished) break;
    }
  }
}

async function rewardExistingPage(env: Env, org: string, campaignId: string, segmentId: string, after: string) {
  const { results } = await env.DB.prepare(
    `SELECT m.entries AS m_entries, m.changed_at AS m_changed_at, c.* FROM segment_members m
     JOIN customers c ON c.org = m.org AND c.external_id = m.external_id
     WHERE m.org = ?1 AND m.segment_id = ?2 AND m.external_id > ?3 AND m.inside = 1 ORDER BY m.external_id LIMIT ${EXISTING_PAGE}`,
  )
    .bind(org, segmentId, after)
    .all<CustomerRow & { m_entries: number; m_changed_at: string }>();
  const campaign = await requireCampaign(env.DB, org, campaignId);
  const settings = await getSettings(env.DB, org);
  const inputs = await Promise.all(results.map((m) => entryEvent(org, segmentId, m, m.m_entries, m.m_changed_at)));
  const customers = inputs.map((input) => readCustomer(input.customer));
  const suppressed = await suppressedKeys(
    env.DB,
    org,
    customers.flatMap((c) => (c.emailKey ? [c.emailKey] : [])),
    customers.flatMap((c) => (c.phone ? [c.phone] : [])),
  );
  // The campaign takes them in now: windows and caps count this reward at its own time, not the old entry's.
  const occurredAt = new Date().toISOString();
  // The page is one evaluation of the event pipeline (one pool call); a re-run answers what an earlier one decided.
  const done = await evaluateEvents(
    env,
    org,
    inputs.map((input, i) => {
      const customer = customers[i]!;
      return {
        ev: { org, id: input.id, type: input.type, occurredAt, properties: input.properties ?? {}, customer },
        campaigns: [campaign],
        suppressed:
          (customer.emailKey !== null && suppressed.has(`email:${customer.emailKey}`)) ||
          (customer.phone !== null && suppressed.has(`phone:${customer.phone}`)),
        rerun: true,
      };
    }),
    settings.per_recipient_caps,
  );
  if (done.stats.length > 0) await addStats(env.DB, done.stats).run();
  const deliveries = done.deliveries.get(campaignId) ?? [];
  if (deliveries.length) {
    const messages = [];
    for (let i = 0; i < deliveries.length; i += DELIVERIES_PER_MESSAGE) {
      messages.push({ type: "deliver" as const, org, campaignId, deliveryIds: deliveries.slice(i, i + DELIVERIES_PER_MESSAGE) });
    }
    await sendMessages(env.DELIVERY_QUEUE, messages);
  }
  const finished = results.length < EXISTING_PAGE;
  const last = results.at(-1)?.external_id ?? after;
  await env.DB.prepare(
    `INSERT INTO segment_campaign_runs (campaign_id, org, after_id, done, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (campaign_id) DO UPDATE SET after_id = excluded.after_id, done = excluded.done, updated_at = excluded.updated_at`,
  )
    // Once through, the last id is not kept (it names a customer).
    .bind(campaignId, org, finished ? "" : last, finished ? 1 : 0, new Date().toISOString())
    .run();
  return { finished, after: last };
}
