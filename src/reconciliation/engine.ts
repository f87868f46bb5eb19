/**
 * Running a reconciliation in bounded steps. A run walks the phases (ledger → batches →
 * deliveries → inventory → finalize); each step reads one page, and commits its findings,
 * exceptions and the run's next cursor in one D1 transaction guarded by the step number. So a
 * step that dies leaves nothing half-written and is simply done again, and two invocations can
 * never both apply the same step. An invocation drives steps until its budget is spent; the rest
 * continues from a queue message. A run nobody has advanced for STALE_AFTER_MS is abandoned and
 * redone by the next request or cron.
 */
import { appendAudit } from "../audit/audit";
import { isGuardFailure } from "../core/guard";
import type { Env } from "../env";
import { ledgerStep } from "./check.ledger";
import { batchesStep } from "./check.batches";
import { deliveriesStep } from "./check.deliveries";
import { inventoryStep } from "./check.inventory";
import { findingStatements } from "./findings.write";
import { abandonRun, claimRun, commitStep, completeRun, failStep, findRunningRun, insertRun, newRun, updateCounts, type RunRow } from "./runs.store";
import { PHASES, type Phase, type PhaseName, type RunState } from "./types";
import { redactTokens } from "../core/redact";

export const STALE_AFTER_MS = 5 * 60_000;
const MAX_FAILURES = 5;
const STEPS: Record<PhaseName, Phase> = { ledger: ledgerStep, batches: batchesStep, deliveries: deliveriesStep, inventory: inventoryStep };

export interface Budget {
  ms: number;
  steps: number;
}
export type DriveOutcome = { run: RunRow; stopped: "done" | "budget" | "busy" };

/** The org's running run if someone is advancing it, else a new one (a stale one is abandoned first). */
export async function startRun(
  env: Env,
  org: string,
  trigger: RunRow["trigger"],
  actor: string,
  opts: { requestId?: string; page?: number } = {},
): Promise<{ run: RunRow; created: boolean }> {
  const now = new Date();
  const active = await findRunningRun(env.DB, org);
  if (active && now.getTime() - Date.parse(active.updated_at) < STALE_AFTER_MS) return { run: active, created: false };
  if (active) await abandonRun(env.DB, active, now.toISOString());
  const run = newRun(org, trigger, actor, now.toISOString(), opts.page);
  try {
    await appendAudit(
      env.DB,
      org,
      [{ actor, action: "reconciliation.started", entityType: "reconciliation", entityId: run.id, after: { trigger }, requestId: opts.requestId }],
      [insertRun(env.DB, run)],
    );
    return { run, created: true };
  } catch (err) {
    // Another request or the cron started one at the same moment (one running run per org).
    const raced = await findRunningRun(env.DB, org);
    if (raced && /UNIQUE/i.test(String(err))) return { run: raced, created: false };
    throw err;
  }
}

/** Advances the run step by step until it ends, the budget is spent, or another invocation holds it. */
export async function driveRun(env: Env, runId: string, budget: Budget): Promise<DriveOutcome> {
  const deadline = Date.now() + budget.ms;
  for (let steps = 0; ; steps++) {
    const result = await runStep(env, runId, steps === 0);
    if (result.stopped !== "more") return { run: result.run, stopped: result.stopped };
    if (steps + 1 >= budget.steps || Date.now() >= deadline) return { run: result.run, stopped: "budget" };
  }
}

async function runStep(env: Env, runId: string, firstInInvocation: boolean): Promise<{ run: RunRow; stopped: "done" | "busy" | "more" }> {
  const now = new Date();
  const run = await claimRun(env.DB, runId, now);
  if (!run) {
    const current = (await env.DB.prepare("SELECT * FROM reconciliation_runs WHERE id = ?").bind(runId).first<RunRow>())!;
    return { run: current, stopped: current.status === "running" ? "busy" : "done" };
  }
  const state = JSON.parse(run.state) as RunState;
  if (firstInInvocation) state.invocations += 1;
  try {
    if (run.phase === "finalize") return { run: await finalize(env, run, state), stopped: "done" };
    const phase = run.phase as PhaseName;
    const started = Date.now();
    const result = await STEPS[phase]({ env, org: run.org, runId: run.id, now, state, cursor: run.cursor ? JSON.parse(run.cursor) : null });
    recordStats(state, phase, result.rows, Date.now() - started);
    const nextPhase = result.cursor !== null ? phase : (PHASES[PHASES.indexOf(phase) + 1] ?? "finalize");
    const writes = await findingStatements(env.DB, run.org, run.id, result.findings, now.toISOString());
    const stamp = new Date().toISOString();
    await env.DB.batch([
      ...commitStep(env.DB, run, { phase: nextPhase, cursor: result.cursor, state, rows: result.rows }, stamp),
      ...writes,
      ...(writes.length ? [updateCounts(env.DB, run.id)] : []),
    ]);
    return {
      run: { ...run, phase: nextPhase, step: run.step + 1, rows_scanned: run.rows_scanned + result.rows, state: JSON.stringify(state), updated_at: stamp },
      stopped: "more",
    };
  } catch (err) {
    if (isGuardFailure(err)) return { run, stopped: "busy" };
    console.error(
      JSON.stringify({
        reconciliation: run.id,
        org: run.org,
        phase: run.phase,
        step: run.step,
        error: redactTokens(String(err)),
        stack: redactTokens(String((err as Error)?.stack ?? "")),
      }),
    );
    await failStep(env.DB, run, String(err), MAX_FAILURES, now.toISOString());
    throw err;
  }
}

function recordStats(state: RunState, phase: PhaseName, rows: number, ms: number): void {
  state.phases[phase] ??= { steps: 0, rows: 0, ms: 0 };
  const p = state.phases[phase];
  p.steps += 1;
  p.rows += rows;
  p.ms += ms;
  state.max_step_rows = Math.max(state.max_step_rows, rows);
  state.max_step_ms = Math.max(state.max_step_ms, ms);
}

async function finalize(env: Env, run: RunRow, state: RunState): Promise<RunRow> {
  const now = new Date().toISOString();
  const counts = await env.DB.prepare("SELECT kind, COUNT(*) AS n FROM reconciliation_findings WHERE run_id = ? GROUP BY kind")
    .bind(run.id)
    .all<{ kind: string; n: number }>();
  const byKind = Object.fromEntries(counts.results.map((c) => [c.kind, c.n]));
  const findings = counts.results.reduce((s, c) => s + c.n, 0);
  await appendAudit(
    env.DB,
    run.org,
    [
      {
        actor: run.requested_by,
        action: "reconciliation.completed",
        entityType: "reconciliation",
        entityId: run.id,
        after: { findings, by_kind: byKind, rows_scanned: run.rows_scanned, steps: run.step },
      },
    ],
    completeRun(env.DB, run, state, now),
  );
  return (await env.DB.prepare("SELECT * FROM reconciliation_runs WHERE id = ?").bind(run.id).first<RunRow>())!;
}
