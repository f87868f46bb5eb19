/** The exception queue: failed, dead-lettered, held and suspicious things a person must resolve. */
import { and, desc, eq, lt, sql } from "drizzle-orm";
import { notFound } from "../core/errors";
import { decodeCursor, encodeCursor } from "../core/pagination";
import { createDb } from "../db/client";
import { exceptions } from "../db/schema";

export type ExceptionRecord = typeof exceptions.$inferSelect;

export function exceptionView(r: ExceptionRecord) {
  return {
    id: r.id,
    kind: r.kind,
    severity: r.severity,
    entity_type: r.entityType,
    entity_id: r.entityId,
    batch_id: r.batchId,
    status: r.status,
    detail: r.detail,
    data: r.data ? (JSON.parse(r.data) as unknown) : null,
    occurrences: r.occurrences,
    resolution: r.resolution,
    note: r.note,
    resolved_by: r.resolvedBy,
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    resolved_at: r.resolvedAt,
  };
}
export type ExceptionView = ReturnType<typeof exceptionView>;

export async function findException(d1: D1Database, org: string, id: string): Promise<ExceptionRecord> {
  const [row] = await createDb(d1)
    .select()
    .from(exceptions)
    .where(and(eq(exceptions.org, org), eq(exceptions.id, id)))
    .limit(1);
  if (!row) throw notFound("exception", id);
  return row;
}

export interface ExceptionFilter {
  status?: "open" | "resolved";
  kind?: string;
  batch_id?: string;
  limit: number;
  cursor?: string;
}

/**
 * Newest first, read in id order from (batch_id, id), (org, status, id) or (org, id): no page sorts
 * the org's exceptions. With a batch, the unary + keeps SQLite (no statistics) off the org indexes,
 * which would walk every exception of the org for an old batch.
 */
export async function listExceptions(d1: D1Database, org: string, q: ExceptionFilter) {
  const before = q.cursor ? decodeCursor(q.cursor, "exc") : undefined;
  const rows = await createDb(d1)
    .select()
    .from(exceptions)
    .where(
      and(
        q.batch_id ? sql`+${exceptions.org} = ${org}` : eq(exceptions.org, org),
        q.status ? eq(exceptions.status, q.status) : undefined,
        q.kind ? eq(exceptions.kind, q.kind) : undefined,
        q.batch_id ? eq(exceptions.batchId, q.batch_id) : undefined,
        before ? lt(exceptions.id, before) : undefined,
      ),
    )
    .orderBy(desc(exceptions.id))
    .limit(q.limit + 1);
  const page = rows.slice(0, q.limit);
  return { data: page.map(exceptionView), next_cursor: rows.length > q.limit ? encodeCursor("exc", page.at(-1)!.id) : null };
}
