/**
 * Opening exceptions: at most one open exception per (org, kind, entity); a repeat bumps its
 * occurrence count instead of adding a row, so retries and re-runs never flood the queue.
 */
import { newId } from "../core/ids";

export interface ExceptionInput {
  org: string;
  kind: string;
  severity: "low" | "medium" | "high";
  entityType: string;
  entityId: string;
  batchId?: string | null;
  detail: string;
  data?: unknown;
}

export function openExceptions(d1: D1Database, list: ExceptionInput[]): D1PreparedStatement | null {
  if (list.length === 0) return null;
  const now = new Date().toISOString();
  const rows = list.map((e) => ({
    id: newId("exc"),
    org: e.org,
    kind: e.kind,
    severity: e.severity,
    entity_type: e.entityType,
    entity_id: e.entityId,
    batch_id: e.batchId ?? null,
    detail: e.detail,
    data: e.data === undefined ? null : JSON.stringify(e.data),
    now,
  }));
  return d1
    .prepare(
      `INSERT INTO exceptions (id, org, kind, severity, entity_type, entity_id, batch_id, status, detail, data, occurrences, created_at, updated_at)
       SELECT value ->> 'id', value ->> 'org', value ->> 'kind', value ->> 'severity', value ->> 'entity_type', value ->> 'entity_id',
              value ->> 'batch_id', 'open', value ->> 'detail', value ->> 'data', 1, value ->> 'now', value ->> 'now'
       FROM json_each(?1) WHERE true
       ON CONFLICT (org, kind, entity_id) WHERE status = 'open'
       DO UPDATE SET occurrences = occurrences + 1, detail = excluded.detail, data = excluded.data, updated_at = excluded.updated_at`,
    )
    .bind(JSON.stringify(rows));
}
