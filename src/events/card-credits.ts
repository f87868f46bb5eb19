/**
 * A campaign reward that is a bonus credit onto the customer's existing stored-value card (reward
 * `kind: "card_credit"`), the campaign side of POST /v1/cards/{id}/credit:
 *
 * 1. Before the pool call: the customer's card (`customerCards`: the most recently issued active or
 *    exhausted card of the customer's identity key or external id, in the campaign's currency and,
 *    if the reward names one, product; none → skip `no_card`, nothing claimed) and the credit's
 *    expiry (`creditExpiry`: a local time in the customer's or the org's time zone, hours after the
 *    event, or a fixed instant; already past → skip `outside_window`).
 * 2. The value is claimed with the campaign's other rewards (src/pools/campaign-budget.ts: caps,
 *    pause threshold, budget) under the pool item `credit:<credit id>`, the item a card's reversal
 *    gives a bonus back to. The outcome row, written next, names the card, the credit and its
 *    expiry: it is the intent a re-run finishes.
 * 3. `applyCredits` adds the bonus bucket in the card's Durable Object (operation id from the credit
 *    id, so a re-run credits once; actor `campaign:<id>`, reference the event id). A card that refuses
 *    (reversed or expired since the search) gets the pool item refunded to the campaign's hold and
 *    the outcome becomes skipped `no_card`. (The search leaves frozen cards out; the object itself
 *    takes credits on a frozen card, as POST /v1/cards/{id}/credit does.)
 * 4. `notifyCredits` tells the customer on the campaign's channel (idempotency key from the credit id).
 *
 * With `fallback: "issue_card"`, a customer without a card gets a card reward instead (src/events/evaluate.ts).
 * Expired bonus value is breakage, as for any credit: it stays committed in the pool.
 */
import type { CampaignRow } from "../campaigns/campaign-state";
import { campaignRef, rewardOf, type CreditExpiry } from "../campaigns/campaigns.service";
import { sendEmailBatch, MAX_BATCH } from "../channels/email";
import { sendSms } from "../channels/sms";
import { cardStub, seedOf, type CardRow } from "../cards/cards.store";
import { addDays, atLocalTime, isTimeZone, localDate } from "../core/time-zones";
import type { Env } from "../env";
import { refundCampaignReward } from "../pools/campaign-budget";
import { creditItemId, opIds } from "../pools/op-ids";
import { getSettings } from "../settings/settings.service";
import type { Customer } from "./customer";
import type { OutcomeView, SkipReason } from "./outcomes";

const HOUR_MS = 3_600_000;
/** Card objects credited at once. */
const CREDITS_AT_ONCE = 20;

/** The credit of an outcome `out_<h>` is `crd_<h>`: fixed, so a re-run reaches the same bucket and pool item. */
export const creditIdFor = (outcomeId: string) => `crd_${outcomeId.slice("out_".length)}`;
export const creditPoolItem = (creditId: string) => creditItemId(creditId);

/** Seconds past local midnight of `HH:MM` or `HH:MM:SS` (`24:00` is the end of the day), else null. */
export function localSeconds(t: string): number | null {
  const m = /^(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(t);
  if (!m) return null;
  const [h, min, s] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  if (min > 59 || s > 59 || h > 24 || (h === 24 && (min > 0 || s > 0))) return null;
  return h * 3600 + min * 60 + s;
}

/**
 * When a credit for an event expires: `at_local_time` is the first instant at or after the event's
 * `occurred_at` at which the clock in `zone` reads that time (`23:59:59` or `24:00`: the end of the
 * event's local day, "by midnight"); `after_hours` counts from `occurred_at`; `at` is fixed. Derived
 * from the event, not the clock, so a re-run computes the same expiry.
 */
export function creditExpiry(e: CreditExpiry, occurredAt: string, zone: string): number {
  const from = Date.parse(occurredAt);
  if ("at" in e) return Date.parse(e.at);
  if ("after_hours" in e) return from + e.after_hours * HOUR_MS;
  const secs = localSeconds(e.at_local_time)!;
  const day = localDate(zone, from);
  const today = atLocalTime(zone, day, secs);
  return today >= from ? today : atLocalTime(zone, addDays(day, 1), secs);
}

/** Each customer's time zone: their profile's, else the org's. Read only when a credit needs a local time. */
export async function zonesOf(d1: D1Database, org: string, externalIds: string[]): Promise<(externalId: string) => string> {
  const orgZone = (await getSettings(d1, org)).time_zone;
  const { results } = await d1
    .prepare("SELECT external_id, time_zone FROM customers WHERE org = ?1 AND external_id IN (SELECT value FROM json_each(?2)) AND time_zone IS NOT NULL")
    .bind(org, JSON.stringify([...new Set(externalIds)]))
    .all<{ external_id: string; time_zone: string }>();
  const zones = new Map(results.filter((r) => isTimeZone(r.time_zone)).map((r) => [r.external_id, r.time_zone]));
  return (externalId) => zones.get(externalId) ?? orgZone;
}

export interface CardCandidate {
  id: string;
  product_id: string;
  currency: string;
  created_at: string;
  /** The card's own end: a bonus never outlives it (the card object clamps it; the record and the notice say so too). */
  expires_at: string | null;
}

/**
 * The cards that may take a credit for each customer (in the given order), newest first: cards
 * issued to the customer's identity key or external id, by a campaign (its outcome's customer) or a
 * batch (its recipient's email, phone or external id), that are active or exhausted (a credit makes
 * an exhausted card active again; frozen, expired, reversed and void cards are left out) and not
 * past their own expiry. One statement for the request. Every branch starts from the request's
 * customers (CROSS JOIN keeps SQLite from leading with the org's rows: json_each has no statistics)
 * and probes an index with its whole key: the outcomes' (org, customer_key) and (org, external_id),
 * the recipients' email and phone keys, and for a batch recipient's external id (batch_ref,
 * external_id) under each of the org's batches, as support's search does; then deliveries by
 * recipient and the card by its key.
 */
export async function customerCards(d1: D1Database, org: string, customers: Customer[], now: number): Promise<CardCandidate[][]> {
  if (customers.length === 0) return [];
  const q = customers.map((c, i) => [i, c.key, c.input.external_id, c.emailKey, c.phone]);
  const { results } = await d1
    .prepare(
      `WITH q AS (SELECT value ->> 0 AS i, value ->> 1 AS k, value ->> 2 AS ext, value ->> 3 AS email_key, value ->> 4 AS phone FROM json_each(?2)),
       found AS (
         SELECT q.i, d.card_id FROM q CROSS JOIN campaign_outcomes o ON o.org = ?1 AND o.customer_key = q.k JOIN deliveries d ON d.recipient_id = o.id
         UNION SELECT q.i, d.card_id FROM q CROSS JOIN campaign_outcomes o ON o.org = ?1 AND o.external_id = q.ext JOIN deliveries d ON d.recipient_id = o.id
         UNION SELECT q.i, d.card_id FROM q CROSS JOIN batch_recipients r ON r.email_key = q.email_key JOIN deliveries d ON d.recipient_id = r.id AND +d.org = ?1
         UNION SELECT q.i, d.card_id FROM q CROSS JOIN batch_recipients r ON r.phone_key = q.phone JOIN deliveries d ON d.recipient_id = r.id AND +d.org = ?1
         UNION SELECT q.i, d.card_id FROM q CROSS JOIN batches b ON b.org = ?1 CROSS JOIN batch_recipients r ON r.batch_ref = b.ref AND r.external_id = q.ext
           JOIN deliveries d ON d.recipient_id = r.id)
       SELECT f.i, c.id, c.product_id, c.currency, c.created_at, c.expires_at FROM found f JOIN cards c ON c.id = f.card_id
       WHERE c.org = ?1 AND c.status IN ('active', 'exhausted') AND (c.expires_at IS NULL OR c.expires_at > ?3)
       ORDER BY f.i, c.created_at DESC, c.id DESC`,
    )
    .bind(org, JSON.stringify(q), new Date(now).toISOString())
    .all<CardCandidate & { i: number }>();
  const out: CardCandidate[][] = customers.map(() => []);
  for (const r of results)
    out[Number(r.i)]!.push({ id: r.id, product_id: r.product_id, currency: r.currency, created_at: r.created_at, expires_at: r.expires_at });
  return out;
}

/** The card a campaign credits: the newest candidate in its currency (and its product, when the reward names one). */
export function pickCard(candidates: CardCandidate[], currency: string, productId: string | undefined): CardCandidate | null {
  return candidates.find((c) => c.currency === currency && (!productId || c.product_id === productId)) ?? null;
}

export interface FoundCredit {
  cardId: string;
  creditId: string;
  expiresAt: number;
  /** The customer's time zone (their profile's, else the org's): the expiry's and the notice's. */
  zone: string;
}

/**
 * For each card_credit reward about to be claimed: the customer's card and the credit's expiry, or
 * the skip (`no_card`; `outside_window` when the expiry is already past), or with `fallback:
 * "issue_card"` and no card, `issueCard` (a card reward instead). One statement for the
 * cards, one each for the zones and the org's settings. A reward a crashed run already committed
 * (`committed`) that now has no card gets its value back to the campaign's hold.
 */
export async function findCards<P extends { ev: { id: string; occurredAt: string; customer: Customer }; c: CampaignRow; outcomeId: string }>(
  env: Env,
  org: string,
  pairs: P[],
  committed: (p: P) => boolean,
): Promise<[P, FoundCredit | { issueCard: true } | { skip: { reason: "no_card" | "outside_window"; detail: string } }][]> {
  if (pairs.length === 0) return [];
  const now = Date.now();
  const [cards, zoneOf] = await Promise.all([
    customerCards(
      env.DB,
      org,
      pairs.map((p) => p.ev.customer),
      now,
    ),
    zonesOf(
      env.DB,
      org,
      pairs.map((p) => p.ev.customer.input.external_id),
    ),
  ]);
  return Promise.all(
    pairs.map(async (p, i): Promise<[P, FoundCredit | { issueCard: true } | { skip: { reason: "no_card" | "outside_window"; detail: string } }]> => {
      const reward = rewardOf(p.c);
      const zone = zoneOf(p.ev.customer.input.external_id);
      const card = pickCard(cards[i]!, p.c.currency, reward.product_id);
      const asked = creditExpiry(reward.expires!, p.ev.occurredAt, zone);
      const expiresAt = card?.expires_at ? Math.min(asked, Date.parse(card.expires_at)) : asked;
      const creditId = creditIdFor(p.outcomeId);
      const skip = !card
        ? ({
            reason: "no_card",
            detail: `No active ${p.c.currency} card${reward.product_id ? ` of product ${reward.product_id}` : ""} for this customer`,
          } as const)
        : expiresAt <= now
          ? ({ reason: "outside_window", detail: `The credit would expire at ${new Date(expiresAt).toISOString()}, already past` } as const)
          : null;
      if (!skip) return [p, { cardId: card!.id, creditId, expiresAt, zone }];
      if (committed(p)) await refundCampaignReward(env, campaignRef(p.c), creditPoolItem(creditId), `campaign:${p.c.id}`);
      // No card, and the campaign says so: a new card instead, claimed and delivered as a card reward.
      if (skip.reason === "no_card" && reward.fallback === "issue_card") return [p, { issueCard: true }];
      return [p, { skip }];
    }),
  );
}

export interface PlannedCredit {
  c: CampaignRow;
  eventId: string;
  outcomeId: string;
  cardId: string;
  creditId: string;
  amount: number;
  expiresAt: number;
}

/**
 * Adds each credit's bonus bucket in its card's Durable Object. Idempotent by the credit id (a
 * re-run replays the first answer). Returns the credits a card refused, by outcome id, after giving
 * their value back to the campaign's hold.
 */
export async function applyCredits(env: Env, org: string, credits: PlannedCredit[]): Promise<Map<string, string>> {
  const refused = new Map<string, string>();
  if (credits.length === 0) return refused;
  const { results } = await env.DB.prepare(
    "SELECT id, org, currency, initial_amount, expires_at, created_at, status FROM cards WHERE id IN (SELECT value FROM json_each(?1)) AND org = ?2",
  )
    .bind(JSON.stringify([...new Set(credits.map((k) => k.cardId))]), org)
    .all<Pick<CardRow, "id" | "org" | "currency" | "initial_amount" | "expires_at" | "created_at" | "status">>();
  const rows = new Map(results.map((r) => [r.id, r]));
  for (let i = 0; i < credits.length; i += CREDITS_AT_ONCE) {
    await Promise.all(
      credits.slice(i, i + CREDITS_AT_ONCE).map(async (k) => {
        const row = rows.get(k.cardId);
        const r = row
          ? await cardStub(env, k.cardId).credit(seedOf(row), {
              opId: opIds.cardCredit(k.creditId),
              creditId: k.creditId,
              amount: k.amount,
              poolId: k.c.poolId,
              expiresAt: k.expiresAt,
              reason: `campaign ${k.c.id}: ${k.c.name}`.slice(0, 500),
              reference: k.eventId.slice(0, 200),
              actor: `campaign:${k.c.id}`,
            })
          : ({ ok: false, code: "not_found", detail: "The card is gone" } as const);
        if (r.ok) return;
        await refundCampaignReward(env, campaignRef(k.c), creditPoolItem(k.creditId), `campaign:${k.c.id}`);
        refused.set(k.outcomeId, `Card ${k.cardId} refused the credit: ${r.code}`);
      }),
    );
  }
  return refused;
}

export interface CreditNotice {
  org: string;
  channel: "email" | "sms";
  to: string;
  creditId: string;
  campaignName: string;
  amount: number;
  currency: string;
  expiresAt: number;
  zone: string;
}

/** "We've added $10.00 to your card (Order thanks). It is valid until midnight at the end of Dec 7, 2026 (America/New_York); …" */
export function noticeText(n: CreditNotice): string {
  const money = new Intl.NumberFormat("en-US", { style: "currency", currency: n.currency }).format(n.amount / 100);
  const at = (t: number, time: boolean) =>
    new Intl.DateTimeFormat("en-US", { timeZone: n.zone, dateStyle: "medium", ...(time ? { timeStyle: "short", hourCycle: "h23" } : {}) }).format(t);
  const full = at(n.expiresAt, true);
  const until = full.endsWith(" 00:00") ? `midnight at the end of ${at(n.expiresAt - 1, false)}` : full;
  return `We've added ${money} to your card (${n.campaignName}). It is valid until ${until} (${n.zone}); spend it before then, it will be gone after.`;
}

/**
 * Tells each customer on the campaign's channel. The idempotency key is the credit's, so a re-run
 * sends nothing twice. A failed notice is logged, not retried: the credit stands (it is on the card,
 * its transactions and the event's record) and support can tell the customer.
 */
export async function notifyCredits(env: Env, notices: CreditNotice[]): Promise<void> {
  const emails = notices.filter((n) => n.channel === "email");
  for (let i = 0; i < emails.length; i += MAX_BATCH) {
    const part = emails.slice(i, i + MAX_BATCH);
    const sent = await sendEmailBatch(
      env,
      part.map((n) => {
        const text = noticeText(n);
        return {
          org: n.org,
          to: n.to,
          subject: `Bonus added to your card: ${n.campaignName}`,
          text,
          html: `<p>${text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)}</p>`,
          idempotencyKey: `card-credit:${n.creditId}`,
          tags: [{ name: "kind", value: "card_credit" }],
        };
      }),
      `card-credits:${part[0]!.creditId}:${part.length}`,
    );
    sent.forEach((s, j) => {
      if (!s.ok) console.error(JSON.stringify({ notice: "card_credit", credit_id: part[j]!.creditId, error: s.detail }));
    });
  }
  for (const n of notices.filter((x) => x.channel === "sms")) {
    const s = await sendSms(env, { org: n.org, to: n.to, text: noticeText(n), idempotencyKey: `card-credit:${n.creditId}` });
    if (!s.ok) console.error(JSON.stringify({ notice: "card_credit", credit_id: n.creditId, error: s.detail }));
  }
}

/** What `creditCards` needs of an evaluation's pair (src/events/evaluate.ts), and updates when a card refuses. */
export interface CreditPair {
  c: CampaignRow;
  ev: { id: string; customer: Customer };
  outcomeId: string;
  claim?: { amount: number; pending: boolean };
  credit?: FoundCredit;
  skip?: { reason: SkipReason; detail?: string };
  view?: OutcomeView;
}

/**
 * Applies the card_credit rewards whose outcome rows are written (a re-run's too: idempotent by the
 * credit id). A card that refuses has its value given back (card-credits.ts) and its outcome turns
 * into skipped `no_card`; the others' customers are told.
 */
export async function creditCards(env: Env, org: string, pairs: CreditPair[]): Promise<void> {
  if (pairs.length === 0) return;
  const planned: PlannedCredit[] = pairs.map((p) => ({ c: p.c, eventId: p.ev.id, outcomeId: p.outcomeId, amount: p.claim!.amount, ...p.credit! }));
  const refused = await applyCredits(env, org, planned);
  if (refused.size > 0) {
    await env.DB.prepare(
      `UPDATE campaign_outcomes SET outcome = 'skipped', reason = 'no_card', detail = (SELECT j.value ->> 1 FROM json_each(?1) j WHERE j.value ->> 0 = campaign_outcomes.id)
       WHERE id IN (SELECT value ->> 0 FROM json_each(?1)) AND outcome = 'rewarded'`,
    )
      .bind(JSON.stringify([...refused]))
      .run();
  }
  // A re-run read its credits back from their rows, without the customer's zone: the notice says it.
  if (pairs.some((p) => p.credit!.zone === "")) {
    const zoneOf = await zonesOf(
      env.DB,
      org,
      pairs.map((p) => p.ev.customer.input.external_id),
    );
    for (const p of pairs) if (p.credit!.zone === "") p.credit!.zone = zoneOf(p.ev.customer.input.external_id);
  }
  const told: CreditPair[] = [];
  for (const p of pairs) {
    const detail = refused.get(p.outcomeId);
    if (detail === undefined) {
      told.push(p);
      continue;
    }
    p.claim = undefined;
    p.skip = { reason: "no_card", detail };
    p.view = { campaign_id: p.c.id, outcome: "skipped", reason: "no_card" };
  }
  await notifyCredits(
    env,
    told.flatMap((p) => {
      const channel = rewardOf(p.c).channel;
      const to = channel === "sms" ? p.ev.customer.phone : p.ev.customer.email;
      if (!to || channel === "link") return [];
      const { creditId, expiresAt, zone } = p.credit!;
      return [{ org, channel, to, creditId, campaignName: p.c.name, amount: p.claim!.amount, currency: p.c.currency, expiresAt, zone }];
    }),
  );
}
