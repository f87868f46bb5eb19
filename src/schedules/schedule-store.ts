/**
 * Statements over campaign_schedules, campaign_runs and campaign_run_waits: the one module that
 * writes them (campaigns.service.ts adds the schedule row's statement to a campaign's own batch).
 */
import { isGuardFailure } from "../core/guard";
import type { Env } from "../env";
import { firstOccurrence, isScheduled, type ScheduledKind } from "./occurrences";

export interface ScheduleRow {
  campaign_id: string;
  org: string;
  kind: ScheduledKind;
  next_occurrence: string;
  next_at: string;
  watermark: string | null;
}

export interface RunRow {
  campaign_id: string;
  occurrence: string;
  org: string;
  kind: ScheduledKind;
  status: "running" | "done" | "stopped";
  as_of: string;
  params: string;
  cursor: string | null;
  step: number;
  evaluated: number;
  rewarded: number;
  pending: number;
  skipped: number;
  waiting: number;
  missed: number;
  rows_read: number;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
}

export interface RunCounts {
  evaluated: number;
  rewarded: number;
  pending: number;
  skipped: number;
  waiting: number;
  missed: number;
  rowsRead: number;
}
export const zeroCounts = (): RunCounts => ({ evaluated: 0, rewarded: 0, pending: 0, skipped: 0, waiting: 0, missed: 0, rowsRead: 0 });

/**
 * The statement that keeps a campaign's schedule row in step with its trigger: (re)starts it from
 * the first occurrence after `now` for a scheduled kind, removes it for any other. A changed
 * trigger starts afresh (its watermark too).
 */
export function scheduleStatement(d1: D1Database, org: string, campaignId: string, trigger: unknown, now: number, timeZone: string): D1PreparedStatement {
  if (!isScheduled(trigger)) return d1.prepare("DELETE FROM campaign_schedules WHERE campaign_id = ?").bind(campaignId);
  const first = firstOccurrence(trigger, now, timeZone);
  return d1
    .prepare(
      `INSERT INTO campaign_schedules (campaign_id, org, kind, next_occurrence, next_at, watermark, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6)
       ON CONFLICT (campaign_id) DO UPDATE SET kind = excluded.kind, next_occurrence = excluded.next_occurrence, next_at = excluded.next_at,
         watermark = NULL, updated_at = excluded.updated_at`,
    )
    .bind(campaignId, org, trigger.kind, first.key, new Date(first.dueAt).toISOString(), new Date(now).toISOString());
}

export async function readRun(d1: D1Database, campaignId: string, occurrence: string): Promise<RunRow | null> {
  return d1.prepare("SELECT * FROM campaign_runs WHERE campaign_id = ? AND occurrence = ?").bind(campaignId, occurrence).first<RunRow>();
}

/** A new run (nothing if this occurrence already has one: a second tick starts nothing). */
export function insertRun(d1: D1Database, r: { campaignId: string; occurrence: string; org: string; kind: ScheduledKind; asOf: string; params: unknown }) {
  const now = new Date().toISOString();
  return d1
    .prepare(
      `INSERT OR IGNORE INTO campaign_runs (campaign_id, occurrence, org, kind, status, as_of, params, created_at, updated_at)
       VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7, ?7)`,
    )
    .bind(r.campaignId, r.occurrence, r.org, r.kind, r.asOf, JSON.stringify(r.params), now);
}

/**
 * Applies one page of a run: its counts, its next cursor (or the end) and the waits it left, only
 * if the run is still at the step this invocation read (else another invocation applied it: false).
 */
export async function commitPage(
  d1: D1Database,
  run: RunRow,
  page: { cursor: string | null; done: boolean; counts: RunCounts; waits: { dueAt: string; externalIds: string[] }[] },
): Promise<boolean> {
  const now = new Date().toISOString();
  const c = page.counts;
  const advance = d1
    .prepare(
      `UPDATE campaign_runs SET step = step + 1, cursor = ?3, status = CASE WHEN ?4 THEN 'done' ELSE status END, completed_at = CASE WHEN ?4 THEN ?5 END,
         evaluated = evaluated + ?6, rewarded = rewarded + ?7, pending = pending + ?8, skipped = skipped + ?9, waiting = waiting + ?10, missed = missed + ?11,
         rows_read = rows_read + ?12, updated_at = ?5
       WHERE campaign_id = ?1 AND occurrence = ?2 AND step = ?13 AND status = 'running'`,
    )
    .bind(
      run.campaign_id,
      run.occurrence,
      page.cursor,
      page.done ? 1 : 0,
      now,
      c.evaluated,
      c.rewarded,
      c.pending,
      c.skipped,
      c.waiting,
      c.missed,
      c.rowsRead,
      run.step,
    );
  const waits = page.waits.map((w) =>
    d1
      .prepare("INSERT OR IGNORE INTO campaign_run_waits (campaign_id, occurrence, due_at, seq, org, external_ids) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
      .bind(run.campaign_id, run.occurrence, w.dueAt, run.step, run.org, JSON.stringify(w.externalIds)),
  );
  try {
    // The guard right after the UPDATE: a stale step rolls back its waits too.
    await d1.batch([advance, d1.prepare("INSERT INTO write_guards (stale_write) SELECT NULL WHERE changes() = 0"), ...waits]);
    return true;
  } catch (err) {
    if (isGuardFailure(err)) return false;
    throw err;
  }
}

/** Ends a run early (its campaign is no longer active). */
export function stopRun(d1: D1Database, run: RunRow) {
  const now = new Date().toISOString();
  return d1
    .prepare(
      "UPDATE campaign_runs SET status = 'stopped', completed_at = ?3, updated_at = ?3 WHERE campaign_id = ?1 AND occurrence = ?2 AND status = 'running'",
    )
    .bind(run.campaign_id, run.occurrence, now)
    .run();
}

export interface WaitRow {
  campaign_id: string;
  occurrence: string;
  due_at: string;
  seq: number;
  org: string;
  external_ids: string;
}

/** Removes a wait once its customers were evaluated, adding their counts to the run (once: only if this call removed it). */
export async function finishWait(env: Env, w: Pick<WaitRow, "campaign_id" | "occurrence" | "due_at" | "seq">, c: RunCounts, settled: number): Promise<void> {
  const d1 = env.DB;
  await d1.batch([
    d1
      .prepare("DELETE FROM campaign_run_waits WHERE campaign_id = ?1 AND occurrence = ?2 AND due_at = ?3 AND seq = ?4")
      .bind(w.campaign_id, w.occurrence, w.due_at, w.seq),
    d1
      .prepare(
        `UPDATE campaign_runs SET evaluated = evaluated + ?3, rewarded = rewarded + ?4, pending = pending + ?5, skipped = skipped + ?6,
           waiting = waiting - ?7, rows_read = rows_read + ?8, updated_at = ?9
         WHERE campaign_id = ?1 AND occurrence = ?2 AND changes() > 0`,
      )
      .bind(w.campaign_id, w.occurrence, c.evaluated, c.rewarded, c.pending, c.skipped, settled, c.rowsRead, new Date().toISOString()),
  ]);
}
