/** What the reconciliation routes call: run now, list runs, one run with its findings (JSON or CSV). */
import { notFound } from "../core/errors";
import { decodeCursor, encodeCursor } from "../core/pagination";
import type { Auth, Env } from "../env";
import { driveRun, startRun, type DriveOutcome } from "./engine";
import { findingRows, findingView, type FindingFilter } from "./findings.read";
import { findRun, runView, type RunRow } from "./runs.store";
import { enqueueRun, INLINE_BUDGET } from "./schedule";

/**
 * Starts a run (or joins the one in progress) and works on it for a bounded time; whatever is left
 * continues on the queue. `completed` tells the route whether to answer 201 or 202.
 */
export async function requestReconciliation(env: Env, auth: Auth, requestId?: string) {
  const { run } = await startRun(env, auth.org, "manual", auth.sub, { requestId });
  let outcome: DriveOutcome;
  try {
    outcome = await driveRun(env, run.id, INLINE_BUDGET);
  } catch {
    // The failed step is recorded on the run; the queue retries it.
    outcome = { run: (await findRun(env.DB, auth.org, run.id)) ?? run, stopped: "budget" };
  }
  if (outcome.stopped === "budget" && outcome.run.status === "running") await enqueueRun(env, auth.org, run.id);
  return { run: runView(outcome.run), completed: outcome.run.status === "completed" };
}

export async function listRuns(d1: D1Database, org: string, q: { limit: number; cursor?: string; status?: string; trigger?: string }) {
  const before = q.cursor ? decodeCursor(q.cursor, "rec") : "\uffff";
  const { results } = await d1
    .prepare(
      `SELECT * FROM reconciliation_runs WHERE org = ?1 AND id < ?2 AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR trigger = ?4) ORDER BY id DESC LIMIT ?5`,
    )
    .bind(org, before, q.status ?? null, q.trigger ?? null, q.limit + 1)
    .all<RunRow>();
  const page = results.slice(0, q.limit);
  return { data: page.map(runView), next_cursor: results.length > q.limit ? encodeCursor("rec", page.at(-1)!.id) : null };
}

export async function requireRun(d1: D1Database, org: string, id: string): Promise<RunRow> {
  const run = await findRun(d1, org, id);
  if (!run) throw notFound("reconciliation", id);
  return run;
}

/** The run and a page of its findings. */
export async function runWithFindings(d1: D1Database, org: string, id: string, q: FindingFilter & { limit: number; cursor?: string }) {
  const run = await requireRun(d1, org, id);
  const rows = await findingRows(d1, run.id, q, q.cursor ? decodeCursor(q.cursor, "fnd") : "", q.limit + 1);
  const page = rows.slice(0, q.limit);
  const view = runView(run);
  return { ...view, run: view, data: page.map(findingView), next_cursor: rows.length > q.limit ? encodeCursor("fnd", page.at(-1)!.id) : null };
}
