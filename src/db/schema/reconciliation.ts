/** Reconciliation runs, their findings and the issue ledger that keeps exceptions from repeating. */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * Reconciliation runs. At most one `running` run per org; a run advances one bounded step at a
 * time (`phase` + `cursor`), holding `lease_until` while a step works, and `step` guards each
 * commit so a step is applied once. `state` carries the totals and per-phase statistics.
 */
export const reconciliationRuns = sqliteTable(
  "reconciliation_runs",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    trigger: text("trigger", { enum: ["manual", "cron"] }).notNull(),
    requestedBy: text("requested_by").notNull(),
    status: text("status", { enum: ["running", "completed", "failed", "abandoned"] }).notNull(),
    phase: text("phase").notNull(),
    cursor: text("cursor"),
    state: text("state").notNull(),
    step: integer("step").notNull().default(0),
    rowsScanned: integer("rows_scanned").notNull().default(0),
    failures: integer("failures").notNull().default(0),
    error: text("error"),
    findingsByKind: text("findings_by_kind"),
    findingsBySeverity: text("findings_by_severity"),
    leaseUntil: text("lease_until"),
    startedAt: text("started_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    completedAt: text("completed_at"),
  },
  (t) => [index("reconciliation_runs_org").on(t.org, t.id), uniqueIndex("reconciliation_runs_running").on(t.org).where(sql`status = 'running'`)],
);

/** What a run found: one row per (run, kind, entity), with expected vs actual amounts and the exception that tracks it. */
export const reconciliationFindings = sqliteTable(
  "reconciliation_findings",
  {
    id: text("id").primaryKey(),
    runId: text("run_id").notNull(),
    org: text("org").notNull(),
    kind: text("kind").notNull(),
    severity: text("severity", { enum: ["low", "medium", "high"] }).notNull(),
    entityType: text("entity_type").notNull(),
    entityId: text("entity_id").notNull(),
    batchId: text("batch_id"),
    poolId: text("pool_id"),
    currency: text("currency"),
    expected: integer("expected"),
    actual: integer("actual"),
    detail: text("detail").notNull(),
    data: text("data"),
    fingerprint: text("fingerprint").notNull(),
    exceptionId: text("exception_id"),
    createdAt: text("created_at").notNull(),
  },
  (t) => [uniqueIndex("reconciliation_findings_entity").on(t.runId, t.kind, t.entityId), index("reconciliation_findings_run").on(t.runId, t.id)],
);

/**
 * The org's known problems, one row per (kind, entity): the fingerprint of the facts last seen and
 * whether the latest completed run still saw it. A resolved exception stays resolved while runs
 * keep finding the same facts; it opens again when the facts change or the problem comes back
 * after a run found it gone (src/reconciliation/findings.write.ts).
 */
export const reconciliationIssues = sqliteTable(
  "reconciliation_issues",
  {
    org: text("org").notNull(),
    kind: text("kind").notNull(),
    entityId: text("entity_id").notNull(),
    fingerprint: text("fingerprint").notNull(),
    state: text("state", { enum: ["present", "cleared"] }).notNull(),
    firstRunId: text("first_run_id").notNull(),
    lastRunId: text("last_run_id").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.org, t.kind, t.entityId] }), index("reconciliation_issues_state").on(t.org, t.state)],
);
