/**
 * Segments: a named CEL condition over `customer` (compiled and type-checked when saved, as campaign
 * rules are). Who is inside is recorded in `segment_members` when a profile changes
 * (profile-changes.ts); customers stored before the segment was saved are sorted in a page at a time
 * (the first pages while saving, the rest by the five-minute sweep), and those entries fire nothing:
 * they were inside before any campaign of the segment could exist.
 */
import { appendAudit } from "../audit/audit";
import { compileCondition, checkRule, MAX_RULE_LENGTH } from "../campaigns/rules";
import { AppError } from "../core/errors";
import { newId } from "../core/ids";
import type { Auth, Env } from "../env";
import { customerView, type CustomerRow } from "./customer-store";
import { decodeCursor, encodeCursor } from "../core/pagination";

export { MAX_RULE_LENGTH };

export interface SegmentRow {
  id: string;
  org: string;
  name: string;
  condition: string;
  created_by: string;
  created_at: string;
  updated_at: string;
  backfill_after: string | null;
  backfilled: number;
}

export interface CompiledSegment {
  id: string;
  test: (customer: Record<string, unknown>) => boolean;
  /** The segment has an active `segment_entered` campaign: its entries are evaluated. */
  active: boolean;
}

/** Customers judged per backfill page, and pages per save (the sweep does the rest). */
const BACKFILL_PAGE = 500;
const BACKFILL_PAGES_ON_SAVE = 4;

export function segmentView(r: SegmentRow, members?: number) {
  return {
    id: r.id,
    name: r.name,
    condition: r.condition,
    backfilled: r.backfilled === 1,
    ...(members === undefined ? {} : { members }),
    created_by: r.created_by,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

export async function createSegment(env: Env, auth: Auth, input: { name: string; condition: string }, requestId?: string) {
  const problem = checkRule(input.condition, "/condition", "customer");
  if (problem) throw new AppError("validation_failed", problem.detail, { errors: [problem] });
  const now = new Date().toISOString();
  const row: SegmentRow = {
    id: newId("seg"),
    org: auth.org,
    name: input.name,
    condition: input.condition,
    created_by: auth.sub,
    created_at: now,
    updated_at: now,
    backfill_after: null,
    backfilled: 0,
  };
  await appendAudit(
    env.DB,
    auth.org,
    [{ actor: auth.sub, action: "segment.created", entityType: "segment", entityId: row.id, after: { name: row.name, condition: row.condition }, requestId }],
    [
      env.DB.prepare(
        "INSERT INTO segments (id, org, name, condition, created_by, created_at, updated_at, backfilled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 0)",
      ).bind(row.id, row.org, row.name, row.condition, row.created_by, now),
    ],
  );
  for (let i = 0; i < BACKFILL_PAGES_ON_SAVE && !(await backfillPage(env, row.id)); i++);
  return getSegment(env, auth.org, row.id);
}

export async function getSegment(env: Env, org: string, id: string) {
  const row = await env.DB.prepare("SELECT * FROM segments WHERE org = ?1 AND id = ?2").bind(org, id).first<SegmentRow>();
  if (!row) throw new AppError("not_found", `No segment with id ${id}`);
  const n = await env.DB.prepare("SELECT COUNT(*) AS n FROM segment_members WHERE org = ?1 AND segment_id = ?2 AND inside = 1")
    .bind(org, id)
    .first<{ n: number }>();
  return segmentView(row, n?.n ?? 0);
}

/** An org has few segments (each is judged on every profile change): listed whole, newest first. */
export const MAX_SEGMENTS_PER_ORG = 100;

/** One page of the org's segments, newest first (ids are time-ordered; an org has at most MAX_SEGMENTS_PER_ORG). */
export async function listSegments(env: Env, org: string, limit: number, cursor?: string) {
  const before = cursor ? decodeCursor(cursor, "seg") : null;
  const { results } = await env.DB.prepare("SELECT * FROM segments WHERE org = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3")
    .bind(org, before, limit + 1)
    .all<SegmentRow>();
  const rows = results.slice(0, limit);
  return { data: rows.map((r) => segmentView(r)), next_cursor: results.length > limit ? encodeCursor("seg", rows.at(-1)!.id) : null };
}

export async function requireRoomForSegment(env: Env, org: string): Promise<void> {
  const n = await env.DB.prepare("SELECT COUNT(*) AS n FROM segments WHERE org = ?").bind(org).first<{ n: number }>();
  if ((n?.n ?? 0) >= MAX_SEGMENTS_PER_ORG) {
    throw new AppError("conflict", `An org has at most ${MAX_SEGMENTS_PER_ORG} segments (each is judged on every profile change)`);
  }
}

/** The org's segments with whether an active campaign waits for their entries (compile the rows with `compileSegments`). */
export function segmentsStatement(env: Env, org: string): D1PreparedStatement {
  return env.DB.prepare(
    `SELECT s.id, s.condition, EXISTS (SELECT 1 FROM campaigns c WHERE c.org = s.org AND c.trigger_event = 'segment_entered/' || s.id AND c.status = 'active') AS active
     FROM segments s WHERE s.org = ?1 ORDER BY s.id LIMIT ${MAX_SEGMENTS_PER_ORG}`,
  ).bind(org);
}

export function compileSegments(rows: { id: string; condition: string; active: number }[]): CompiledSegment[] {
  return rows.map((r) => ({ id: r.id, test: compileCondition(r.condition), active: r.active === 1 }));
}

/**
 * One page of a segment's backfill: the next customers by external id, those inside recorded as
 * members with their entry already fired. A member row a profile change wrote meanwhile is kept.
 * Returns true when the backfill is finished.
 */
export async function backfillPage(env: Env, segmentId: string): Promise<boolean> {
  const seg = await env.DB.prepare("SELECT * FROM segments WHERE id = ?").bind(segmentId).first<SegmentRow>();
  if (!seg || seg.backfilled) return true;
  const { results } = await env.DB.prepare(`SELECT * FROM customers WHERE org = ?1 AND external_id > ?2 ORDER BY external_id LIMIT ${BACKFILL_PAGE}`)
    .bind(seg.org, seg.backfill_after ?? "")
    .all<CustomerRow>();
  const test = compileCondition(seg.condition);
  const now = new Date().toISOString();
  const insert = env.DB.prepare(
    "INSERT OR IGNORE INTO segment_members (org, segment_id, external_id, inside, entries, fired, changed_at) VALUES (?1, ?2, ?3, 1, 1, 1, ?4)",
  );
  const stmts = results.filter((r) => test(customerView(r))).map((r) => insert.bind(seg.org, seg.id, r.external_id, now));
  const done = results.length < BACKFILL_PAGE;
  stmts.push(
    env.DB.prepare("UPDATE segments SET backfill_after = ?2, backfilled = ?3 WHERE id = ?1").bind(
      seg.id,
      // Once through, the last id is not kept: it names a customer, and erasure should not have to find it.
      done ? null : (results.at(-1)?.external_id ?? seg.backfill_after),
      done ? 1 : 0,
    ),
  );
  await env.DB.batch(stmts);
  return done;
}

/** Cron: segments still being sorted in, a few pages per run. */
export async function backfillSegments(env: Env): Promise<number> {
  const { results } = await env.DB.prepare("SELECT id FROM segments WHERE backfilled = 0 ORDER BY created_at LIMIT 5").all<{ id: string }>();
  let pages = 0;
  for (const { id } of results) {
    for (let i = 0; i < 10; i++) {
      pages++;
      if (await backfillPage(env, id)) break;
    }
  }
  return pages;
}
