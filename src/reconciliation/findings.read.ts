/** Reading a run's findings: pages of JSON, or all of them as a streamed, formula-safe CSV. */
import { csvCell } from "../batches/recipients.list";
import type { FindingKind, Severity } from "./types";

export interface FindingFilter {
  kind?: FindingKind;
  severity?: Severity;
}

export interface FindingRow {
  id: string;
  run_id: string;
  kind: FindingKind;
  severity: Severity;
  entity_type: string;
  entity_id: string;
  batch_id: string | null;
  pool_id: string | null;
  currency: string | null;
  expected: number | null;
  actual: number | null;
  detail: string;
  data: string | null;
  fingerprint: string;
  exception_id: string | null;
  created_at: string;
}

export function findingRows(d1: D1Database, runId: string, f: FindingFilter, afterId: string, limit: number): Promise<FindingRow[]> {
  return d1
    .prepare(
      `SELECT * FROM reconciliation_findings WHERE run_id = ?1 AND id > ?2 AND (?3 IS NULL OR kind = ?3) AND (?4 IS NULL OR severity = ?4) ORDER BY id LIMIT ?5`,
    )
    .bind(runId, afterId, f.kind ?? null, f.severity ?? null, limit)
    .all<FindingRow>()
    .then((r) => r.results);
}

export function findingView(r: FindingRow) {
  return {
    id: r.id,
    kind: r.kind,
    severity: r.severity,
    entity_type: r.entity_type,
    entity_id: r.entity_id,
    batch_id: r.batch_id,
    pool_id: r.pool_id,
    currency: r.currency,
    expected: r.expected,
    actual: r.actual,
    difference: r.expected !== null && r.actual !== null ? r.actual - r.expected : null,
    detail: r.detail,
    data: r.data ? (JSON.parse(r.data) as Record<string, unknown>) : {},
    exception_id: r.exception_id,
    fingerprint: r.fingerprint,
    created_at: r.created_at,
  };
}

export const CSV_COLUMNS = [
  "id",
  "kind",
  "severity",
  "entity_type",
  "entity_id",
  "batch_id",
  "pool_id",
  "currency",
  "expected",
  "actual",
  "difference",
  "detail",
  "exception_id",
  "created_at",
  "data",
] as const;

function csvLine(r: FindingRow): string {
  const v = findingView(r);
  return `${[
    v.id,
    v.kind,
    v.severity,
    v.entity_type,
    v.entity_id,
    v.batch_id,
    v.pool_id,
    v.currency,
    v.expected,
    v.actual,
    v.difference,
    v.detail,
    v.exception_id,
    v.created_at,
    r.data,
  ]
    .map(csvCell)
    .join(",")}\r\n`;
}

/** Every finding of the run matching the filter, read page by page as the client consumes the body. */
export function findingsCsv(d1: D1Database, runId: string, f: FindingFilter): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let after = "";
  let headerSent = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!headerSent) {
        headerSent = true;
        return controller.enqueue(encoder.encode(`${CSV_COLUMNS.join(",")}\r\n`));
      }
      const rows = await findingRows(d1, runId, f, after, 2000);
      if (rows.length === 0) return controller.close();
      after = rows.at(-1)!.id;
      controller.enqueue(encoder.encode(rows.map(csvLine).join("")));
    },
  });
}
