/** Customer profiles through the API: upsert (PUT), read with rewards and last_seen, list, erase. */
import { appendAudit } from "../audit/audit";
import { emailKey, isValidEmail } from "../core/contacts";
import { AppError } from "../core/errors";
import type { Auth, Env } from "../env";
import { attributesOf, deleteDateStatements, readCustomerRow, type CustomerRow } from "./customer-store";
import { checkProfile, type ProfileInput } from "./customer-validate";
import { applyProfileChanges } from "./profile-changes";
import { fireEntries } from "./segment-entries";

export function customerNotFound(externalId: string): AppError {
  return new AppError("not_found", `No customer with external id ${externalId}`);
}

export function profileView(r: CustomerRow) {
  return {
    external_id: r.external_id,
    email: r.email,
    phone: r.phone,
    name: r.name,
    country: r.country,
    time_zone: r.time_zone,
    attributes: JSON.parse(r.attributes) as Record<string, unknown>,
    last_seen_at: r.last_seen_at,
    /** API.md's name for it ("rewards received, last_seen"); the same value. */
    last_seen: r.last_seen_at,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

/** PUT: the given profile replaces the stored one (a CRM's record is the truth); 400 with a pointer per problem. */
export async function putCustomer(env: Env, auth: Auth, externalId: string, body: Omit<ProfileInput, "external_id">) {
  const { profile, problems } = checkProfile({ ...body, external_id: externalId });
  if (problems.length) {
    const errors = problems.map((p) => ({
      ...(p.pointer === "/external_id" ? { parameter: "external_id" } : { pointer: p.pointer }),
      code: p.reason,
      detail: p.detail,
    }));
    throw new AppError("validation_failed", errors.map((e) => e.detail).join("; "), { errors });
  }
  const { results, entries } = await applyProfileChanges(env, auth.org, [{ kind: "replace", profile }]);
  await fireEntries(env, auth.org, entries);
  return { created: results[0]!.created, customer: await customerDetail(env, auth.org, profile.external_id) };
}

const REWARDS_SHOWN = 100;

export interface RewardsSummary {
  count: number;
  totals: { currency: string; amount: number }[];
}

/**
 * Every reward of each customer, counted and summed by currency: campaign rewards (rewarded or
 * pending approval) by external id, batch payouts by the profile's email or phone (a payout found
 * by both counted once). One statement for a whole page of customers, whatever its size.
 */
export async function rewardsSummaries(env: Env, org: string, rows: CustomerRow[]): Promise<Map<string, RewardsSummary>> {
  const out = new Map<string, RewardsSummary>(rows.map((r) => [r.external_id, { count: 0, totals: [] }]));
  if (rows.length === 0) return out;
  const keys = rows.map((r) => [r.external_id, r.email ? emailKey(r.email) : null, r.phone]);
  const { results } = await env.DB.prepare(
    `WITH page AS (SELECT value ->> 0 AS ext, value ->> 1 AS ek, value ->> 2 AS pk FROM json_each(?2)),
     paid AS (
       SELECT page.ext, d.id, d.amount, d.currency FROM page JOIN batch_recipients r ON r.email_key = page.ek AND r.org = ?1 AND r.status = 'valid'
         JOIN deliveries d ON d.recipient_id = r.id AND d.reissue_of IS NULL
       UNION
       SELECT page.ext, d.id, d.amount, d.currency FROM page JOIN batch_recipients r ON r.phone_key = page.pk AND r.org = ?1 AND r.status = 'valid'
         JOIN deliveries d ON d.recipient_id = r.id AND d.reissue_of IS NULL
     )
     SELECT ext, currency, COUNT(*) AS n, SUM(amount) AS amount FROM paid GROUP BY ext, currency
     UNION ALL
     SELECT o.external_id AS ext, c.currency, COUNT(*) AS n, SUM(o.amount) AS amount
       FROM campaign_outcomes o JOIN campaigns c ON c.id = o.campaign_id
       WHERE o.org = ?1 AND o.external_id IN (SELECT ext FROM page) AND o.outcome IN ('rewarded', 'pending_approval')
       GROUP BY o.external_id, c.currency`,
  )
    .bind(org, JSON.stringify(keys))
    .all<{ ext: string; currency: string; n: number; amount: number }>();
  for (const r of results) {
    const sum = out.get(r.ext);
    if (!sum) continue;
    sum.count += r.n;
    const total = sum.totals.find((t) => t.currency === r.currency);
    if (total) total.amount += r.amount;
    else sum.totals.push({ currency: r.currency, amount: r.amount });
  }
  for (const sum of out.values()) sum.totals.sort((a, b) => (a.currency < b.currency ? -1 : 1));
  return out;
}

/** Rewards a customer received: campaign rewards by external id, batch payouts by email or phone. */
async function rewardsOf(env: Env, org: string, row: CustomerRow) {
  const { results: campaign } = await env.DB.prepare(
    `SELECT o.campaign_id, o.event_id, o.outcome, o.amount, c.currency, o.delivery_id, d.status AS delivery_status, o.card_id, o.credit_id, o.occurred_at
     FROM campaign_outcomes o JOIN campaigns c ON c.id = o.campaign_id LEFT JOIN deliveries d ON d.id = o.delivery_id
     WHERE o.org = ?1 AND o.external_id = ?2 AND o.outcome IN ('rewarded', 'pending_approval')
     ORDER BY o.occurred_at DESC LIMIT ${REWARDS_SHOWN}`,
  )
    .bind(org, row.external_id)
    .all<Record<string, string | number | null>>();
  const keys: [string, string][] = [];
  if (row.email) keys.push(["email_key", emailKey(row.email)]);
  if (row.phone) keys.push(["phone_key", row.phone]);
  const batch: Record<string, string | number | null>[] = [];
  for (const [column, key] of keys) {
    const { results } = await env.DB.prepare(
      `SELECT r.batch_id, d.id AS delivery_id, d.status AS delivery_status, d.amount, d.currency, d.created_at
       FROM batch_recipients r JOIN deliveries d ON d.recipient_id = r.id
       WHERE r.${column} = ?1 AND r.org = ?2 AND r.status = 'valid' AND d.reissue_of IS NULL
       ORDER BY d.created_at DESC LIMIT ${REWARDS_SHOWN}`,
    )
      .bind(key, org)
      .all<Record<string, string | number | null>>();
    for (const r of results) if (!batch.some((b) => b.delivery_id === r.delivery_id)) batch.push(r);
  }
  const items = [
    ...campaign.map((o) => ({
      source: "campaign" as const,
      campaign_id: o.campaign_id as string,
      event_id: o.event_id as string,
      batch_id: null,
      outcome: o.outcome as "rewarded" | "pending_approval",
      amount: o.amount as number,
      currency: o.currency as string,
      delivery_id: o.outcome === "rewarded" ? (o.delivery_id as string) : null,
      delivery_status: (o.delivery_status as string | null) ?? null,
      card_id: (o.card_id as string | null) ?? null,
      credit_id: (o.credit_id as string | null) ?? null,
      at: o.occurred_at as string,
    })),
    ...batch.map((b) => ({
      source: "batch" as const,
      campaign_id: null,
      event_id: null,
      batch_id: b.batch_id as string,
      outcome: "rewarded" as const,
      amount: b.amount as number,
      currency: b.currency as string,
      delivery_id: b.delivery_id as string,
      delivery_status: b.delivery_status as string,
      card_id: null,
      credit_id: null,
      at: b.created_at as string,
    })),
  ].sort((a, b) => (a.at < b.at ? 1 : -1));
  // Count and totals over every reward (the list's summary), the items the newest REWARDS_SHOWN.
  const summary = (await rewardsSummaries(env, org, [row])).get(row.external_id)!;
  return { ...summary, items: items.slice(0, REWARDS_SHOWN) };
}

export async function customerDetail(env: Env, org: string, externalId: string) {
  const row = await readCustomerRow(env, org, externalId);
  if (!row) throw customerNotFound(externalId);
  const { results: segments } = await env.DB.prepare(
    `SELECT segment_id, entries, changed_at FROM segment_members
     WHERE org = ?1 AND external_id = ?2 AND inside = 1 AND segment_id IN (SELECT id FROM segments WHERE org = ?1)`,
  )
    .bind(org, externalId)
    .all<{ segment_id: string; entries: number; changed_at: string }>();
  return {
    ...profileView(row),
    segments: segments.map((s) => ({ segment_id: s.segment_id, entries: s.entries, entered_at: s.changed_at })),
    rewards_received: await rewardsOf(env, org, row),
  };
}

/** List cursors: the last external id, base64url of its UTF-8 (ids are any readable text). */
const toCursor = (externalId: string) =>
  `cus_${btoa(String.fromCharCode(...new TextEncoder().encode(externalId)))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replaceAll("=", "")}`;

function fromCursor(cursor: string): string {
  try {
    if (!cursor.startsWith("cus_")) throw new Error("kind");
    const bin = atob(cursor.slice(4).replaceAll("-", "+").replaceAll("_", "/"));
    const id = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
    if (!id) throw new Error("empty");
    return id;
  } catch {
    throw new AppError("validation_failed", "The cursor is not valid", {
      errors: [{ parameter: "cursor", code: "invalid", detail: "Use next_cursor from the previous page of this list" }],
    });
  }
}

export interface CustomerListQuery {
  limit: number;
  cursor?: string;
  segment_id?: string;
  email?: string;
}

/** By external id; `segment_id` lists the segment's members inside, `email` finds by identity key (case and +tag ignored). */
export async function listCustomers(env: Env, org: string, q: CustomerListQuery) {
  const after = q.cursor ? fromCursor(q.cursor) : "";
  const n = q.limit + 1;
  let rows: CustomerRow[];
  if (q.segment_id) {
    rows = (
      await env.DB.prepare(
        `SELECT c.* FROM segment_members m JOIN customers c ON c.org = m.org AND c.external_id = m.external_id
         WHERE m.org = ?1 AND m.segment_id = ?2 AND m.inside = 1 AND m.external_id > ?3 ORDER BY m.external_id LIMIT ?4`,
      )
        .bind(org, q.segment_id, after, n)
        .all<CustomerRow>()
    ).results;
  } else if (q.email !== undefined) {
    const email = q.email.trim();
    const key = isValidEmail(email) ? `email:${emailKey(email)}` : null;
    rows = key
      ? (
          await env.DB.prepare("SELECT * FROM customers WHERE org = ?1 AND identity_key = ?2 AND external_id > ?3 ORDER BY external_id LIMIT ?4")
            .bind(org, key, after, n)
            .all<CustomerRow>()
        ).results
      : [];
  } else {
    rows = (
      await env.DB.prepare("SELECT * FROM customers WHERE org = ?1 AND external_id > ?2 ORDER BY external_id LIMIT ?3").bind(org, after, n).all<CustomerRow>()
    ).results;
  }
  const page = rows.slice(0, q.limit);
  const rewards = await rewardsSummaries(env, org, page);
  return {
    data: page.map((r) => ({ ...profileView(r), rewards_received: rewards.get(r.external_id)! })),
    next_cursor: rows.length > q.limit ? toCursor(page.at(-1)!.external_id) : null,
  };
}

/** Batch statuses after which a recipient row is history, not work in progress. */
const FINISHED_BATCHES = "('completed', 'completed_with_errors', 'cancelled', 'rejected', 'expired')";

/**
 * Erasure: the person is forgotten, the money is not. Deleted: the profile, its date rows, its segment
 * memberships. Scrubbed (contact fields emptied, external id and identity key replaced by one
 * pseudonym): their campaign outcomes, the events that named them, their rows in finished batches,
 * and the local dev outbox's copies of messages to them. Kept: every amount, delivery, card, pool
 * journal entry and event id (src/customers/README.md says why).
 */
export async function eraseCustomer(env: Env, auth: Auth, externalId: string, requestId?: string) {
  const row = await readCustomerRow(env, auth.org, externalId);
  const outcomes = await env.DB.prepare("SELECT COUNT(*) AS n FROM campaign_outcomes WHERE org = ?1 AND external_id = ?2")
    .bind(auth.org, externalId)
    .first<{ n: number }>();
  if (!row && !outcomes?.n) throw customerNotFound(externalId);
  const pseudonym = `erased_${crypto.randomUUID().replaceAll("-", "")}`;
  const org = auth.org;
  const keys = new Set<string>([`ext:${externalId}`]);
  if (row) {
    keys.add(row.identity_key);
    if (row.email) keys.add(`email:${emailKey(row.email)}`);
    if (row.phone) keys.add(`phone:${row.phone}`);
  }
  const keyList = JSON.stringify([...keys]);
  const scrubEvent = `customer_key = ?3, payload = json_set(payload, '$.customer', json_object('external_id', ?3)), body_hash = ''`;
  const stmts: D1PreparedStatement[] = [
    // Events first: those that named the person by a key, and those their outcomes point to.
    env.DB.prepare(`UPDATE campaign_events SET ${scrubEvent} WHERE org = ?1 AND customer_key IN (SELECT value FROM json_each(?2))`).bind(
      org,
      keyList,
      pseudonym,
    ),
    env.DB.prepare(
      `UPDATE campaign_events SET ${scrubEvent} WHERE org = ?1 AND id IN (SELECT event_id FROM campaign_outcomes WHERE org = ?1 AND external_id = ?2) AND customer_key IS NOT ?3`,
    ).bind(org, externalId, pseudonym),
    env.DB.prepare(
      "UPDATE campaign_outcomes SET name = NULL, email = NULL, phone = NULL, external_id = ?3, customer_key = ?3 WHERE org = ?1 AND external_id = ?2",
    ).bind(org, externalId, pseudonym),
    env.DB.prepare("DELETE FROM segment_members WHERE org = ?1 AND external_id = ?2 AND segment_id IN (SELECT id FROM segments WHERE org = ?1)").bind(
      org,
      externalId,
    ),
    env.DB.prepare("DELETE FROM customers WHERE org = ?1 AND external_id = ?2").bind(org, externalId),
    // Paging cursors that stopped at this customer move to the one before (the pages resume where they were).
    env.DB.prepare(
      "UPDATE segments SET backfill_after = (SELECT max(external_id) FROM customers WHERE org = ?1 AND external_id < ?2) WHERE org = ?1 AND backfill_after = ?2",
    ).bind(org, externalId),
    env.DB.prepare(
      `UPDATE segment_campaign_runs SET after_id = coalesce((SELECT max(external_id) FROM customers WHERE org = ?1 AND external_id < ?2), '')
       WHERE after_id = ?2 AND campaign_id IN (SELECT id FROM campaigns WHERE org = ?1 AND trigger_event >= 'segment_entered/' AND trigger_event < 'segment_entered0')`,
    ).bind(org, externalId),
  ];
  const recipientStmts: D1PreparedStatement[] = [];
  if (row) {
    const scrubRecipient = `UPDATE batch_recipients SET name = NULL, email = NULL, phone = NULL, fields = NULL, external_id = ?3, email_key = NULL, phone_key = NULL
       WHERE %COLUMN% = ?1 AND org = ?2 AND batch_id IN (SELECT id FROM batches WHERE org = ?2 AND status IN ${FINISHED_BATCHES})`;
    if (row.email) recipientStmts.push(env.DB.prepare(scrubRecipient.replace("%COLUMN%", "email_key")).bind(emailKey(row.email), org, pseudonym));
    if (row.phone) recipientStmts.push(env.DB.prepare(scrubRecipient.replace("%COLUMN%", "phone_key")).bind(row.phone, org, pseudonym));
    stmts.push(...recipientStmts, ...deleteDateStatements(env, org, externalId, attributesOf(row)!));
    const addresses = [row.email, row.phone].filter((a): a is string => !!a);
    if (addresses.length) {
      stmts.push(env.DB.prepare(`DELETE FROM dev_outbox WHERE org = ?1 AND "to" IN (SELECT value FROM json_each(?2))`).bind(org, JSON.stringify(addresses)));
    }
  }
  const results = await appendAudit(
    env.DB,
    org,
    // The entry names the pseudonym only: the audit chain is append-only, so it must never hold the person.
    [{ actor: auth.sub, action: "customer.erased", entityType: "customer", entityId: pseudonym, after: { pseudonym }, requestId }],
    stmts,
  );
  // appendAudit returns the batch's results, the given statements first.
  const mine = results.slice(0, stmts.length);
  const changes = (i: number) => mine[i]?.meta.changes ?? 0;
  return {
    erased: true as const,
    pseudonym,
    scrubbed: {
      profile: changes(4),
      events: changes(0) + changes(1),
      campaign_outcomes: changes(2),
      segment_memberships: changes(3),
      batch_recipients: recipientStmts.reduce((sum, _st, i) => sum + changes(7 + i), 0),
    },
  };
}
