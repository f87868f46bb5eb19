/**
 * Turning a step's findings into rows: the run's findings, the exception queue, and the org's
 * issue ledger (`reconciliation_issues`, one row per kind and entity with the fingerprint of the
 * facts last seen). The issue ledger is what makes re-runs quiet:
 * - first seen, seen again after a run found it gone, or seen with other facts → the exception
 *   opens (or, when one is open already, is updated);
 * - seen with the same facts as last time → an open exception gets one more occurrence and a
 *   resolved one stays resolved;
 * - an open exception the delivery code keeps for the same problem is updated instead of a second one.
 * The statements are returned, not run: the engine commits them with the step's cursor, all or nothing.
 */
import { canonicalJson, sha256Hex } from "../core/crypto";
import { newId } from "../core/ids";
import { openExceptions, type ExceptionInput } from "../exceptions/exceptions.open";
import { SAME_PROBLEM_KINDS, SEVERITY, type Finding } from "./types";

const CHUNK = 500;

interface Issue {
  kind: string;
  entity_id: string;
  fingerprint: string;
  state: "present" | "cleared";
  last_run_id: string;
}

export const fingerprint = (f: Finding) => sha256Hex(canonicalJson({ kind: f.kind, entity: f.entityId, facts: f.facts }));

export async function findingStatements(d1: D1Database, org: string, runId: string, found: Finding[], now: string): Promise<D1PreparedStatement[]> {
  const unique = [...new Map(found.map((f) => [`${f.kind}\n${f.entityId}`, f])).values()];
  if (unique.length === 0) return [];
  const fps = await Promise.all(unique.map(fingerprint));
  const { issues, openKinds } = await readState(d1, org, unique);

  const raise: ExceptionInput[] = [];
  const touch: { kind: string; entity: string }[] = [];
  const fresh: number[] = [];
  unique.forEach((f, i) => {
    const issue = issues.get(`${f.kind}\n${f.entityId}`);
    if (issue?.last_run_id === runId) return; // an earlier page of this run handled it
    fresh.push(i);
    const sameProblem = (SAME_PROBLEM_KINDS[f.kind] ?? []).find((k) => openKinds.get(f.entityId)?.has(k));
    if (sameProblem) touch.push({ kind: sameProblem, entity: f.entityId });
    else if (!issue || issue.state === "cleared" || issue.fingerprint !== fps[i]) raise.push(exceptionInput(org, runId, f, fps[i]!));
    else touch.push({ kind: f.kind, entity: f.entityId });
  });

  const rows = unique.map((f, i) => findingRow(f, fps[i]!));
  const issueRows = fresh.map((i) => ({ kind: unique[i]!.kind, entity_id: unique[i]!.entityId, fingerprint: fps[i] }));
  const out: D1PreparedStatement[] = [];
  for (let i = 0; i < raise.length; i += CHUNK) out.push(openExceptions(d1, raise.slice(i, i + CHUNK))!);
  for (let i = 0; i < touch.length; i += CHUNK) out.push(touchExceptions(d1, org, touch.slice(i, i + CHUNK), now));
  for (let i = 0; i < rows.length; i += CHUNK) out.push(insertFindings(d1, org, runId, rows.slice(i, i + CHUNK), now));
  for (let i = 0; i < issueRows.length; i += CHUNK) out.push(upsertIssues(d1, org, runId, issueRows.slice(i, i + CHUNK), now));
  return out;
}

async function readState(d1: D1Database, org: string, list: Finding[]) {
  const keys = JSON.stringify(list.map((f) => ({ kind: f.kind, entity: f.entityId })));
  const entities = JSON.stringify([...new Set(list.filter((f) => SAME_PROBLEM_KINDS[f.kind]).map((f) => f.entityId))]);
  const [issueRows, openRows] = await d1.batch<Record<string, string>>([
    d1
      .prepare(
        `SELECT i.kind, i.entity_id, i.fingerprint, i.state, i.last_run_id FROM json_each(?2) j
       JOIN reconciliation_issues i ON i.org = ?1 AND i.kind = j.value ->> 'kind' AND i.entity_id = j.value ->> 'entity'`,
      )
      .bind(org, keys),
    d1
      .prepare("SELECT kind, entity_id FROM exceptions WHERE org = ?1 AND status = 'open' AND entity_id IN (SELECT value FROM json_each(?2))")
      .bind(org, entities),
  ]);
  const issues = new Map((issueRows!.results as unknown as Issue[]).map((r) => [`${r.kind}\n${r.entity_id}`, r]));
  const openKinds = new Map<string, Set<string>>();
  for (const r of openRows!.results) openKinds.set(r.entity_id!, (openKinds.get(r.entity_id!) ?? new Set()).add(r.kind!));
  return { issues, openKinds };
}

function exceptionInput(org: string, runId: string, f: Finding, fp: string): ExceptionInput {
  return {
    org,
    kind: f.kind,
    severity: SEVERITY[f.kind],
    entityType: f.entityType,
    entityId: f.entityId,
    batchId: f.batchId ?? null,
    detail: f.detail,
    data: {
      source: "reconciliation",
      run_id: runId,
      fingerprint: fp,
      expected: f.expected,
      actual: f.actual,
      currency: f.currency ?? null,
      pool_id: f.poolId ?? null,
      ...f.data,
    },
  };
}

function findingRow(f: Finding, fp: string) {
  return {
    id: newId("fnd"),
    kind: f.kind,
    severity: SEVERITY[f.kind],
    entity_type: f.entityType,
    entity_id: f.entityId,
    batch_id: f.batchId ?? null,
    pool_id: f.poolId ?? null,
    currency: f.currency ?? null,
    expected: f.expected,
    actual: f.actual,
    detail: f.detail,
    data: f.data ? JSON.stringify(f.data) : null,
    fingerprint: fp,
    exception_kinds: [f.kind, ...(SAME_PROBLEM_KINDS[f.kind] ?? [])],
  };
}

function touchExceptions(d1: D1Database, org: string, list: { kind: string; entity: string }[], now: string) {
  return d1
    .prepare(
      `UPDATE exceptions SET occurrences = occurrences + 1, updated_at = ?2
     WHERE id IN (SELECT e.id FROM json_each(?3) j JOIN exceptions e ON e.org = ?1 AND e.kind = j.value ->> 'kind' AND e.entity_id = j.value ->> 'entity' AND e.status = 'open')`,
    )
    .bind(org, now, JSON.stringify(list));
}

/** The finding links to the exception that tracks it: the open one, else the latest resolved one. */
function insertFindings(d1: D1Database, org: string, runId: string, rows: ReturnType<typeof findingRow>[], now: string) {
  return d1
    .prepare(
      `INSERT INTO reconciliation_findings (id, run_id, org, kind, severity, entity_type, entity_id, batch_id, pool_id, currency, expected, actual, detail, data, fingerprint, exception_id, created_at)
     SELECT j.value ->> 'id', ?1, ?2, j.value ->> 'kind', j.value ->> 'severity', j.value ->> 'entity_type', j.value ->> 'entity_id', j.value ->> 'batch_id',
            j.value ->> 'pool_id', j.value ->> 'currency', j.value ->> 'expected', j.value ->> 'actual', j.value ->> 'detail', j.value ->> 'data', j.value ->> 'fingerprint',
            (SELECT e.id FROM exceptions e WHERE e.org = ?2 AND e.entity_id = j.value ->> 'entity_id' AND e.kind IN (SELECT value FROM json_each(j.value -> 'exception_kinds'))
             ORDER BY e.status = 'open' DESC, e.updated_at DESC LIMIT 1), ?3
     FROM json_each(?4) j WHERE true
     ON CONFLICT (run_id, kind, entity_id) DO UPDATE SET detail = excluded.detail, data = excluded.data, expected = excluded.expected,
       actual = excluded.actual, fingerprint = excluded.fingerprint, exception_id = excluded.exception_id`,
    )
    .bind(runId, org, now, JSON.stringify(rows));
}

function upsertIssues(d1: D1Database, org: string, runId: string, rows: { kind: string; entity_id: string; fingerprint?: string }[], now: string) {
  return d1
    .prepare(
      `INSERT INTO reconciliation_issues (org, kind, entity_id, fingerprint, state, first_run_id, last_run_id, updated_at)
     SELECT ?1, value ->> 'kind', value ->> 'entity_id', value ->> 'fingerprint', 'present', ?2, ?2, ?3 FROM json_each(?4) WHERE true
     ON CONFLICT (org, kind, entity_id) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'present', last_run_id = excluded.last_run_id, updated_at = excluded.updated_at`,
    )
    .bind(org, runId, now, JSON.stringify(rows));
}
