/**
 * Reconciliation run rows: creating, claiming a step (a short lease, so two invocations never
 * work on one run at once), committing a step (guarded by the step number it started from), and
 * the reads behind the API.
 */
import { requireChanged } from "../core/guard";
import { newId } from "../core/ids";
import { emptyState, PHASES, type RunState, type Totals } from "./types";

export const LEASE_MS = 60_000;

export interface RunRow {
  id: string;
  org: string;
  trigger: "manual" | "cron";
  requested_by: string;
  status: "running" | "completed" | "failed" | "abandoned";
  phase: string;
  cursor: string | null;
  state: string;
  step: number;
  rows_scanned: number;
  failures: number;
  error: string | null;
  findings_by_kind: string | null;
  findings_by_severity: string | null;
  lease_until: string | null;
  started_at: string;
  updated_at: string;
  completed_at: string | null;
}

export function newRun(org: string, trigger: RunRow["trigger"], requestedBy: string, now: string, page?: number): RunRow {
  return {
    id: newId("rec"),
    org,
    trigger,
    requested_by: requestedBy,
    status: "running",
    phase: PHASES[0],
    cursor: null,
    state: JSON.stringify(emptyState(page)),
    step: 0,
    rows_scanned: 0,
    failures: 0,
    error: null,
    findings_by_kind: null,
    findings_by_severity: null,
    lease_until: null,
    started_at: now,
    updated_at: now,
    completed_at: null,
  };
}

export function insertRun(d1: D1Database, r: RunRow): D1PreparedStatement {
  return d1
    .prepare(
      `INSERT INTO reconciliation_runs (id, org, trigger, requested_by, status, phase, cursor, state, step, rows_scanned, failures, started_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, 'running', ?5, NULL, ?6, 0, 0, 0, ?7, ?7)`,
    )
    .bind(r.id, r.org, r.trigger, r.requested_by, r.phase, r.state, r.started_at);
}

export function findRun(d1: D1Database, org: string, id: string): Promise<RunRow | null> {
  return d1.prepare("SELECT * FROM reconciliation_runs WHERE id = ? AND org = ?").bind(id, org).first<RunRow>();
}

export function findRunningRun(d1: D1Database, org: string): Promise<RunRow | null> {
  return d1.prepare("SELECT * FROM reconciliation_runs WHERE org = ? AND status = 'running'").bind(org).first<RunRow>();
}

/** Gives up a run nobody has advanced for a while; the next run starts over. */
export function abandonRun(d1: D1Database, run: RunRow, now: string): Promise<D1Result> {
  return d1
    .prepare(
      "UPDATE reconciliation_runs SET status = 'abandoned', lease_until = NULL, completed_at = ?3, error = 'no progress; superseded by a new run' WHERE id = ?1 AND status = 'running' AND step = ?2",
    )
    .bind(run.id, run.step, now)
    .run();
}

/** Takes the run's lease for one step, or null when another invocation holds it or the run has ended. */
export function claimRun(d1: D1Database, id: string, now: Date): Promise<RunRow | null> {
  return d1
    .prepare(`UPDATE reconciliation_runs SET lease_until = ?3 WHERE id = ?1 AND status = 'running' AND (lease_until IS NULL OR lease_until < ?2) RETURNING *`)
    .bind(id, now.toISOString(), new Date(now.getTime() + LEASE_MS).toISOString())
    .first<RunRow>();
}

/** Moves the run on by one step; aborts the whole D1 batch if another invocation already did. */
export function commitStep(
  d1: D1Database,
  run: RunRow,
  next: { phase: string; cursor: unknown; state: RunState; rows: number },
  now: string,
): D1PreparedStatement[] {
  return [
    d1
      .prepare(
        `UPDATE reconciliation_runs SET phase = ?3, cursor = ?4, state = ?5, step = step + 1, rows_scanned = rows_scanned + ?6,
         lease_until = NULL, failures = 0, error = NULL, updated_at = ?7 WHERE id = ?1 AND step = ?2 AND status = 'running'`,
      )
      .bind(run.id, run.step, next.phase, next.cursor === null ? null : JSON.stringify(next.cursor), JSON.stringify(next.state), next.rows, now),
    requireChanged(d1),
  ];
}

/** Finding counts by kind and severity, recomputed from the run's findings. */
export function updateCounts(d1: D1Database, runId: string): D1PreparedStatement {
  return d1
    .prepare(
      `UPDATE reconciliation_runs SET
       findings_by_kind = (SELECT json_group_object(kind, n) FROM (SELECT kind, COUNT(*) AS n FROM reconciliation_findings WHERE run_id = ?1 GROUP BY kind)),
       findings_by_severity = (SELECT json_group_object(severity, n) FROM (SELECT severity, COUNT(*) AS n FROM reconciliation_findings WHERE run_id = ?1 GROUP BY severity))
     WHERE id = ?1`,
    )
    .bind(runId);
}

export function completeRun(d1: D1Database, run: RunRow, state: RunState, now: string): D1PreparedStatement[] {
  return [
    d1
      .prepare(
        `UPDATE reconciliation_runs SET status = 'completed', phase = 'done', cursor = NULL, state = ?4, lease_until = NULL, step = step + 1, updated_at = ?3, completed_at = ?3
       WHERE id = ?1 AND step = ?2 AND status = 'running'`,
      )
      .bind(run.id, run.step, now, JSON.stringify(state)),
    requireChanged(d1),
    updateCounts(d1, run.id),
    // Issues this run no longer sees were fixed: if they come back, their exception opens again.
    d1
      .prepare("UPDATE reconciliation_issues SET state = 'cleared', updated_at = ?3 WHERE org = ?1 AND state = 'present' AND last_run_id <> ?2")
      .bind(run.org, run.id, now),
  ];
}

/** A step that threw: the lease goes, and after MAX_FAILURES in a row the run fails. */
export function failStep(d1: D1Database, run: RunRow, error: string, maxFailures: number, now: string): Promise<D1Result> {
  return d1
    .prepare(
      `UPDATE reconciliation_runs SET failures = failures + 1, error = ?3, lease_until = NULL, updated_at = ?4,
       status = CASE WHEN failures + 1 >= ?5 THEN 'failed' ELSE status END, completed_at = CASE WHEN failures + 1 >= ?5 THEN ?4 ELSE completed_at END
     WHERE id = ?1 AND step = ?2 AND status = 'running'`,
    )
    .bind(run.id, run.step, error.slice(0, 1000), now, maxFailures)
    .run();
}

export function runView(r: RunRow) {
  const state = JSON.parse(r.state) as RunState;
  const byKind = JSON.parse(r.findings_by_kind ?? "{}") as Record<string, number>;
  const bySeverity = JSON.parse(r.findings_by_severity ?? "{}") as Record<string, number>;
  const totals = Object.entries(state.totals)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([currency, t]: [string, Totals]) => ({ currency, ...t }));
  return {
    id: r.id,
    status: r.status,
    trigger: r.trigger,
    requested_by: r.requested_by,
    phase: r.phase,
    started_at: r.started_at,
    updated_at: r.updated_at,
    completed_at: r.completed_at,
    duration_ms: r.completed_at ? Date.parse(r.completed_at) - Date.parse(r.started_at) : null,
    totals,
    findings: { total: Object.values(byKind).reduce((s, n) => s + n, 0), by_kind: byKind, by_severity: bySeverity },
    progress: {
      steps: r.step,
      rows_scanned: r.rows_scanned,
      invocations: state.invocations,
      max_rows_per_step: state.max_step_rows,
      max_step_ms: state.max_step_ms,
      phases: state.phases,
    },
    error: r.error,
  };
}
export type RunView = ReturnType<typeof runView>;
