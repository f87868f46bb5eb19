/**
 * Applying profile changes (PUT, an import chunk, the customers of events) and what follows from
 * them: each profile is written with its date rows (customer-store.ts) and its segment membership in
 * one D1 batch. A change that makes a segment's condition true counts an entry; the entries of
 * segments with an active `segment_entered` campaign are left unfired (`entries > fired`) for
 * segment-entries.ts to evaluate, the others are marked fired at once (nobody to reward).
 *
 * Reads are per chunk, not per profile: the stored rows and the membership rows of every customer of
 * the chunk (`IN (SELECT value FROM json_each(?))`) and the org's segments with whether each has an
 * active campaign come in one D1 batch: a request's profile changes cost one round trip to read
 * and one per 2,500 statements to write. Touches (events) are one set-based upsert for the whole
 * request (customer-store.ts `touchStatement`), so 1,000 events write their profiles in one
 * statement plus one per date row or segment membership that changes.
 */
import { readCustomer } from "../events/customer";
import type { Env } from "../env";
import { MAX_ATTRIBUTES, MAX_ATTRIBUTES_BYTES } from "./customer-validate";
import { customerView, replaceStatements, touchOf, touchStatement, type CustomerProfile, type CustomerRow, type Touch } from "./customer-store";
import { compileSegments, segmentsStatement } from "./segments";

export type ProfileChange = { kind: "replace"; profile: CustomerProfile } | { kind: "touch"; profile: CustomerProfile; seenAt: string };

export interface ChangeResult {
  created: boolean;
  row: CustomerRow;
}

export interface Entry {
  segmentId: string;
  externalId: string;
}

interface Member {
  inside: number;
  entries: number;
}

/**
 * Statements per D1 batch (a profile's statements are never split across two). Each batch is one
 * subrequest of the Worker's 1,000, so an import's 5,000-row chunk costs one read and a few writes.
 */
const STATEMENTS_PER_BATCH = 2500;
/** Ids per `json_each` read. */
const READ_CHUNK = 1000;

const memberKey = (segmentId: string, externalId: string) => `${segmentId}\n${externalId}`;

/**
 * What the changes are judged against, in one D1 round trip: the customers' stored rows and
 * membership rows (1,000 ids per statement) and the org's segments.
 */
async function readState(env: Env, org: string, ids: string[]) {
  const reads: D1PreparedStatement[] = [segmentsStatement(env, org)];
  for (let i = 0; i < ids.length; i += READ_CHUNK) {
    const chunk = JSON.stringify(ids.slice(i, i + READ_CHUNK));
    reads.push(
      env.DB.prepare("SELECT * FROM customers WHERE org = ?1 AND external_id IN (SELECT value FROM json_each(?2))").bind(org, chunk),
      env.DB.prepare(
        `SELECT segment_id, external_id, inside, entries FROM segment_members
         WHERE org = ?1 AND segment_id IN (SELECT id FROM segments WHERE org = ?1) AND external_id IN (SELECT value FROM json_each(?2))`,
      ).bind(org, chunk),
    );
  }
  const [segmentRows, ...rest] = await env.DB.batch(reads);
  const stored = new Map<string, CustomerRow>();
  const members = new Map<string, Member>();
  rest.forEach((result, i) => {
    if (i % 2 === 0) for (const r of result.results as CustomerRow[]) stored.set(r.external_id, r);
    else
      for (const r of result.results as { segment_id: string; external_id: string; inside: number; entries: number }[]) {
        members.set(memberKey(r.segment_id, r.external_id), { inside: r.inside, entries: r.entries });
      }
  });
  return { stored, members, segments: compileSegments(segmentRows!.results as { id: string; condition: string; active: number }[]) };
}

/** The profile a change leaves, computed as the statements of customer-store.ts write it. */
function nextRow(org: string, change: ProfileChange, prev: CustomerRow | undefined, now: string): CustomerRow {
  const p = change.profile;
  const id = readCustomer({ external_id: p.external_id, email: p.email ?? undefined, phone: p.phone ?? undefined, country: p.country ?? undefined });
  if (change.kind === "replace") {
    return {
      org,
      external_id: p.external_id,
      identity_key: id.key,
      email: id.email,
      phone: id.phone,
      name: p.name ?? null,
      country: p.country ?? null,
      time_zone: p.time_zone ?? null,
      attributes: JSON.stringify(p.attributes ?? {}),
      last_seen_at: prev?.last_seen_at ?? null,
      created_at: prev?.created_at ?? now,
      updated_at: now,
    };
  }
  const attributes: Record<string, unknown> = prev ? JSON.parse(prev.attributes) : {};
  for (const [k, v] of Object.entries(p.attributes ?? {})) {
    if (v === null) delete attributes[k];
    else attributes[k] = v;
  }
  const lastSeen = prev?.last_seen_at && prev.last_seen_at > change.seenAt ? prev.last_seen_at : change.seenAt;
  return {
    org,
    external_id: p.external_id,
    identity_key: id.email || id.phone || !prev ? id.key : prev.identity_key,
    email: id.email ?? prev?.email ?? null,
    phone: id.phone ?? prev?.phone ?? null,
    name: p.name ?? prev?.name ?? null,
    country: p.country ?? prev?.country ?? null,
    time_zone: p.time_zone ?? prev?.time_zone ?? null,
    attributes: JSON.stringify(attributes),
    last_seen_at: lastSeen,
    created_at: prev?.created_at ?? now,
    updated_at: now,
  };
}

/**
 * An event older than the profile's last event (it arrived late) fills what the profile lacks and
 * overwrites nothing: fields the profile has and attributes it has are left out, nulls are ignored.
 */
function lateTouch(p: CustomerProfile, prev: CustomerRow, prevAttributes: Record<string, unknown>): CustomerProfile {
  const gap = <T>(stored: string | null, given: T) => (stored ? undefined : given);
  return {
    external_id: p.external_id,
    email: gap(prev.email, p.email),
    phone: gap(prev.phone, p.phone),
    name: gap(prev.name, p.name),
    country: gap(prev.country, p.country),
    time_zone: gap(prev.time_zone, p.time_zone),
    attributes: Object.fromEntries(Object.entries(p.attributes ?? {}).filter(([k, v]) => v !== null && !(k in prevAttributes))),
  };
}

/**
 * An event's attributes as a profile can take them: keys the profile has are updated (or removed by
 * null); new keys are added while the profile stays within MAX_ATTRIBUTES and MAX_ATTRIBUTES_BYTES.
 * The event's rules still see all of them (event-profiles.ts).
 */
function withinLimits(prev: Record<string, unknown>, incoming: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const merged = { ...prev };
  let count = Object.keys(prev).length;
  for (const [k, v] of Object.entries(incoming)) {
    if (k in prev || v === null) {
      out[k] = v;
      if (v === null) delete merged[k];
      else merged[k] = v;
    } else if (count < MAX_ATTRIBUTES) {
      out[k] = v;
      merged[k] = v;
      count++;
    }
  }
  if (new TextEncoder().encode(JSON.stringify(merged)).byteLength <= MAX_ATTRIBUTES_BYTES) return out;
  // Too big with the additions: only what replaces or removes existing keys, if that fits.
  const kept = Object.fromEntries(Object.entries(out).filter(([k]) => k in prev));
  const shrunk = { ...prev, ...kept };
  for (const [k, v] of Object.entries(kept)) if (v === null) delete shrunk[k];
  return new TextEncoder().encode(JSON.stringify(shrunk)).byteLength <= MAX_ATTRIBUTES_BYTES ? kept : {};
}

function enterStatement(env: Env, org: string, segmentId: string, externalId: string, nothingToFire: boolean, now: string) {
  // Conditional on `inside = 0`, so two racing changes count one entry.
  return env.DB.prepare(
    `INSERT INTO segment_members (org, segment_id, external_id, inside, entries, fired, changed_at) VALUES (?1, ?2, ?3, 1, 1, ?4, ?5)
     ON CONFLICT (org, segment_id, external_id) DO UPDATE SET inside = 1, entries = segment_members.entries + 1,
       fired = CASE WHEN ?4 = 1 THEN segment_members.entries + 1 ELSE segment_members.fired END, changed_at = excluded.changed_at
     WHERE segment_members.inside = 0`,
  ).bind(org, segmentId, externalId, nothingToFire ? 1 : 0, now);
}

function leaveStatement(env: Env, org: string, segmentId: string, externalId: string, now: string) {
  return env.DB.prepare("UPDATE segment_members SET inside = 0, changed_at = ?4 WHERE org = ?1 AND segment_id = ?2 AND external_id = ?3 AND inside = 1").bind(
    org,
    segmentId,
    externalId,
    now,
  );
}

/**
 * Applies the changes in order (a customer named twice gets both, the second over the first) and
 * returns each one's resulting profile and the segment entries that wait for evaluation.
 */
export async function applyProfileChanges(env: Env, org: string, changes: ProfileChange[]): Promise<{ results: ChangeResult[]; entries: Entry[] }> {
  if (changes.length === 0) return { results: [], entries: [] };
  const now = new Date().toISOString();
  const ids = [...new Set(changes.map((c) => c.profile.external_id))];
  const { stored, members, segments } = await readState(env, org, ids);
  const results: ChangeResult[] = [];
  const entries: Entry[] = [];
  // Per change, its statements, and for a touch its row of the one set-based upsert (`touchStatement`).
  const groups: { touch?: Touch; stmts: D1PreparedStatement[] }[] = [];
  const seen = new Set<string>();
  for (const change of changes) {
    const ext = change.profile.external_id;
    const prev = stored.get(ext);
    const prevAttributes = prev ? (JSON.parse(prev.attributes) as Record<string, unknown>) : null;
    if (change.kind === "touch") {
      if (prev?.last_seen_at && change.seenAt < prev.last_seen_at) change.profile = lateTouch(change.profile, prev, prevAttributes ?? {});
      change.profile.attributes = withinLimits(prevAttributes ?? {}, change.profile.attributes ?? {});
    }
    const row = nextRow(org, change, prev, now);
    let group: { touch?: Touch; stmts: D1PreparedStatement[] };
    if (change.kind === "replace") group = { stmts: replaceStatements(env, org, change.profile, prevAttributes, now) };
    else {
      const { touch, dates } = touchOf(env, org, change.profile, prevAttributes, change.seenAt);
      group = { touch, stmts: dates };
    }
    const view = customerView(row);
    for (const seg of segments) {
      const key = memberKey(seg.id, ext);
      const was = members.get(key);
      const inside = seg.test(view);
      if (inside && !was?.inside) {
        group.stmts.push(enterStatement(env, org, seg.id, ext, !seg.active, now));
        members.set(key, { inside: 1, entries: (was?.entries ?? 0) + 1 });
        if (seg.active) entries.push({ segmentId: seg.id, externalId: ext });
      } else if (!inside && was?.inside) {
        group.stmts.push(leaveStatement(env, org, seg.id, ext, now));
        members.set(key, { inside: 0, entries: was.entries });
      }
    }
    results.push({ created: !prev && !seen.has(ext), row });
    seen.add(ext);
    stored.set(ext, row);
    groups.push(group);
  }
  await writeGroups(env, org, groups, now);
  return { results, entries };
}

/** Bytes of touch rows per `touchStatement` (D1 takes a bound text of up to 2 MB). */
const TOUCH_BYTES = 1_000_000;

/**
 * Writes the changes' statements in D1 batches of ≤ STATEMENTS_PER_BATCH, a change's never split
 * across two. Consecutive touches share one `touchStatement`, placed at the first of them: each
 * touch's own statements (date rows, memberships) do not read the profile row, and a replace
 * between two touches closes the statement, so every profile's writes keep their order.
 */
async function writeGroups(env: Env, org: string, groups: { touch?: Touch; stmts: D1PreparedStatement[] }[], now: string): Promise<void> {
  let batch: (D1PreparedStatement | Touch[])[] = [];
  let touches: Touch[] | null = null;
  let touchBytes = 0;
  const flush = async () => {
    if (batch.length) await env.DB.batch(batch.map((s) => (Array.isArray(s) ? touchStatement(env, org, s, now) : s)));
    batch = [];
    touches = null;
  };
  for (const g of groups) {
    if (batch.length + g.stmts.length + (g.touch ? 1 : 0) > STATEMENTS_PER_BATCH && batch.length) await flush();
    if (g.touch) {
      const bytes = JSON.stringify(g.touch).length;
      if (!touches || touchBytes + bytes > TOUCH_BYTES) {
        touches = [];
        touchBytes = 0;
        batch.push(touches);
      }
      touches.push(g.touch);
      touchBytes += bytes;
    } else touches = null;
    batch.push(...g.stmts);
  }
  await flush();
}
