import { AppError } from "../core/errors";
import type { AuditRow } from "./audit";
import { SETTLED_ACTION } from "./settlement";

/** Filters of GET /v1/audit; times are ISO 8601 UTC, `from` inclusive and `to` exclusive. */
export interface AuditFilters {
  entityId?: string;
  entityType?: string;
  actor?: string;
  action?: string;
  from?: string;
  to?: string;
}

export interface AuditEvent {
  id: string;
  seq: number;
  actor: string;
  action: string;
  entity_type: string;
  entity_id: string;
  before: unknown;
  after: unknown;
  request_id: string | null;
  created_at: string;
  prev_hash: string;
  hash: string;
}

export interface AuditPage {
  data: AuditEvent[];
  next_cursor: string | null;
}

const CURSOR_PREFIX = "seq:";

/** Cursors are opaque to clients: base64url of the last seq returned. */
export function encodeCursor(seq: number): string {
  return btoa(`${CURSOR_PREFIX}${seq}`).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function decodeCursor(cursor: string): number {
  let text = "";
  try {
    text = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    // falls through to the refusal below
  }
  const seq = text.startsWith(CURSOR_PREFIX) ? Number(text.slice(CURSOR_PREFIX.length)) : NaN;
  if (!Number.isSafeInteger(seq) || seq < 1) {
    throw new AppError("validation_failed", "cursor: not a cursor this list returned", {
      errors: [{ parameter: "cursor", code: "invalid_cursor", detail: "Pass next_cursor from the previous page unchanged" }],
    });
  }
  return seq;
}

/** Stored JSON back to a value; a row edited into invalid JSON is shown as its raw text (verify flags it). */
function parseStored(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function toAuditEvent(row: AuditRow): AuditEvent {
  return {
    id: row.id,
    seq: row.seq,
    actor: row.actor,
    action: row.action,
    entity_type: row.entity_type,
    entity_id: row.entity_id,
    before: parseStored(row.before),
    after: parseStored(row.after),
    request_id: row.request_id,
    created_at: row.created_at,
    prev_hash: row.prev_hash,
    hash: row.hash,
  };
}

function whereClause(org: string, f: AuditFilters, beforeSeq?: number): { sql: string; params: unknown[] } {
  const conds = ["org = ?"];
  const params: unknown[] = [org];
  const add = (cond: string, value: unknown) => {
    conds.push(cond);
    params.push(value);
  };
  if (f.entityId !== undefined) add("entity_id = ?", f.entityId);
  if (f.entityType !== undefined) add("entity_type = ?", f.entityType);
  if (f.actor !== undefined) add("actor = ?", f.actor);
  if (f.action !== undefined) add("action = ?", f.action);
  if (f.from !== undefined) add("created_at >= ?", f.from);
  if (f.to !== undefined) add("created_at < ?", f.to);
  if (beforeSeq !== undefined) add("seq < ?", beforeSeq);
  return { sql: conds.join(" AND "), params };
}

/** The settlement events of the delivery's batch or campaign that name it (one per run; a few per delivery). */
function settledWhere(org: string, f: AuditFilters, beforeSeq?: number): { sql: string; params: unknown[] } {
  const rest = whereClause(org, { ...f, entityId: undefined }, beforeSeq);
  return {
    sql: `${rest.sql} AND entity_id = (SELECT COALESCE(batch_id, campaign_id) FROM deliveries WHERE id = ? AND org = ?)
          AND action = '${SETTLED_ACTION}' AND instr(after, ?) > 0`,
    params: [...rest.params, f.entityId, org, JSON.stringify(f.entityId)],
  };
}

/** One page of the org's audit events, newest (highest seq) first. */
export async function listAudit(d1: D1Database, org: string, filters: AuditFilters, limit: number, cursor?: string): Promise<AuditPage> {
  const beforeSeq = cursor === undefined ? undefined : decodeCursor(cursor);
  const where = whereClause(org, filters, beforeSeq);
  // One entity's history: through (org, entity_id), then sorted — a few rows. Without statistics
  // SQLite would walk the org's whole log newest first (org, seq) to avoid that sort.
  const index = filters.entityId !== undefined ? "INDEXED BY audit_events_entity" : "";
  // A delivery's outcomes recorded by a delivery run are in the run's settlement event, filed under
  // its batch or campaign (src/audit/settlement.ts): those that name the delivery belong to its history.
  const settled = filters.entityId?.startsWith("dlv_") && filters.entityType === undefined ? settledWhere(org, filters, beforeSeq) : null;
  const sql = settled
    ? `SELECT * FROM audit_events ${index} WHERE ${where.sql} UNION ALL SELECT * FROM audit_events ${index} WHERE ${settled.sql} ORDER BY seq DESC LIMIT ?`
    : `SELECT * FROM audit_events ${index} WHERE ${where.sql} ORDER BY seq DESC LIMIT ?`;
  const { results } = await d1
    .prepare(sql)
    .bind(...where.params, ...(settled?.params ?? []), limit + 1)
    .all<AuditRow>();
  const rows = results.slice(0, limit);
  const last = rows.at(-1);
  return { data: rows.map(toAuditEvent), next_cursor: results.length > limit && last ? encodeCursor(last.seq) : null };
}
