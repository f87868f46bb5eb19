/**
 * The cron job "campaigns.scheduled-triggers" (every 5 minutes): starts the runs of scheduled
 * triggers whose occurrence has come, sends the waits whose customers' local day has begun, and
 * sends again the next page of runs nobody advanced for a while. It only reads indexes and sends
 * queue messages; the pages run on the schedules queue (src/queues/schedules.consumer.ts), one
 * page per invocation, so no invocation does unbounded work.
 */
import { redactTokens } from "../core/redact";
import type { Env } from "../env";
import { sendScheduleMessages, type ScheduleMessage } from "../queues/messages";
import { getSettings } from "../settings/settings.service";
import { inactiveBefore, isScheduled, monthDaysFor, nextOccurrence, type Occurrence, occurrenceToRun, type ScheduledTrigger } from "./occurrences";
import { insertRun, type ScheduleRow } from "./schedule-store";

/** Schedule rows one tick handles; the rest wait for the next tick. */
const MAX_OCCURRENCES_PER_TICK = 500;
/** A run whose page nobody applied for this long (wall clock) gets its page message again. */
export const STALE_RUN_MS = 10 * 60_000;
/** How long a sent wait is left to its consumer before the tick sends it again. */
const WAIT_LEASE_MS = 15 * 60_000;

export async function runScheduledTriggers(env: Env, now: Date): Promise<{ started: number; waits: number; resent: number }> {
  const started = await startDueRuns(env, now.getTime());
  const waits = await sendDueWaits(env, now.getTime());
  const resent = await resendStaleRuns(env);
  return { started, waits, resent };
}

type DueRow = ScheduleRow & { status: string; trigger: string };

async function startDueRuns(env: Env, now: number): Promise<number> {
  const nowIso = new Date(now).toISOString();
  let started = 0;
  for (let handled = 0; handled < MAX_OCCURRENCES_PER_TICK; ) {
    const { results } = await env.DB.prepare(
      `SELECT s.*, c.status, c.trigger FROM campaign_schedules s JOIN campaigns c ON c.id = s.campaign_id
       WHERE s.next_at <= ?1 ORDER BY s.next_at LIMIT 50`,
    )
      .bind(nowIso)
      .all<DueRow>();
    if (results.length === 0) break;
    const messages: ScheduleMessage[] = [];
    for (const row of results) {
      handled += 1;
      try {
        const msg = await advance(env, row, now);
        if (msg) messages.push(msg);
      } catch (err) {
        // One campaign's broken schedule must not hold up the others: it is tried again in an hour.
        console.error(JSON.stringify({ job: "campaigns.scheduled-triggers", campaign_id: row.campaign_id, error: redactTokens(String(err)) }));
        await env.DB.prepare("UPDATE campaign_schedules SET next_at = ?3 WHERE campaign_id = ?1 AND next_at = ?2")
          .bind(row.campaign_id, row.next_at, new Date(now + 3_600_000).toISOString())
          .run();
      }
    }
    await sendScheduleMessages(env.SCHEDULE_QUEUE, messages);
    started += messages.length;
  }
  return started;
}

/**
 * One due schedule row: starts the occurrence's run when the campaign is active (a draft, paused or
 * ended campaign's occurrences pass unrun), and moves the row to the next occurrence, in one D1
 * batch guarded by the `next_at` read (two ticks never both move it).
 */
async function advance(env: Env, row: DueRow, now: number): Promise<ScheduleMessage | null> {
  const trigger = JSON.parse(row.trigger) as ScheduledTrigger;
  if (row.status === "ended" || !isScheduled(trigger) || trigger.kind !== row.kind) {
    await env.DB.prepare("DELETE FROM campaign_schedules WHERE campaign_id = ? AND next_at = ?").bind(row.campaign_id, row.next_at).run();
    return null;
  }
  const zone = (await getSettings(env.DB, row.org)).time_zone;
  const occ: Occurrence = occurrenceToRun(trigger, { key: row.next_occurrence, dueAt: Date.parse(row.next_at) }, now, zone);
  const next = nextOccurrence(trigger, occ.key, zone);
  const active = row.status === "active";
  let params: unknown;
  let watermark = row.watermark;
  if (trigger.kind === "date_attribute") params = { attribute: trigger.attribute, date: occ.key, month_days: monthDaysFor(occ.key) };
  else if (trigger.kind === "inactivity") {
    const to = inactiveBefore(occ.key, trigger.days);
    params = { days: trigger.days, from: row.watermark ?? "", to };
    // A draft keeps its watermark unset, so its first active run reaches everyone already inactive.
    if (row.status !== "draft") watermark = to;
  } else params = { segment_id: trigger.segment_id };
  const stmts: D1PreparedStatement[] = [];
  if (active)
    stmts.push(
      insertRun(env.DB, { campaignId: row.campaign_id, occurrence: occ.key, org: row.org, kind: trigger.kind, asOf: new Date(now).toISOString(), params }),
    );
  stmts.push(
    next
      ? env.DB.prepare(
          "UPDATE campaign_schedules SET next_occurrence = ?3, next_at = ?4, watermark = ?5, updated_at = ?6 WHERE campaign_id = ?1 AND next_at = ?2",
        ).bind(row.campaign_id, row.next_at, next.key, new Date(next.dueAt).toISOString(), watermark, new Date().toISOString())
      : env.DB.prepare("DELETE FROM campaign_schedules WHERE campaign_id = ?1 AND next_at = ?2").bind(row.campaign_id, row.next_at),
  );
  const [inserted] = await env.DB.batch(stmts);
  return active && inserted!.meta.changes > 0 ? { type: "schedule_page", org: row.org, campaignId: row.campaign_id, occurrence: occ.key } : null;
}

async function sendDueWaits(env: Env, now: number): Promise<number> {
  const real = Date.now();
  const { results } = await env.DB.prepare(
    `SELECT campaign_id, occurrence, due_at, seq, org FROM campaign_run_waits WHERE due_at <= ?1 AND (claimed_until IS NULL OR claimed_until < ?2)
     ORDER BY due_at LIMIT 500`,
  )
    .bind(new Date(now).toISOString(), new Date(real).toISOString())
    .all<{ campaign_id: string; occurrence: string; due_at: string; seq: number; org: string }>();
  if (results.length === 0) return 0;
  const lease = new Date(real + WAIT_LEASE_MS).toISOString();
  await env.DB.batch(
    results.map((w) =>
      env.DB.prepare("UPDATE campaign_run_waits SET claimed_until = ?5 WHERE campaign_id = ?1 AND occurrence = ?2 AND due_at = ?3 AND seq = ?4").bind(
        w.campaign_id,
        w.occurrence,
        w.due_at,
        w.seq,
        lease,
      ),
    ),
  );
  await sendScheduleMessages(
    env.SCHEDULE_QUEUE,
    results.map((w) => ({ type: "schedule_wait" as const, org: w.org, campaignId: w.campaign_id, occurrence: w.occurrence, dueAt: w.due_at, seq: w.seq })),
  );
  return results.length;
}

async function resendStaleRuns(env: Env): Promise<number> {
  const real = Date.now();
  const { results } = await env.DB.prepare(
    "SELECT campaign_id, occurrence, org FROM campaign_runs WHERE status = 'running' AND updated_at < ?1 ORDER BY updated_at LIMIT 100",
  )
    .bind(new Date(real - STALE_RUN_MS).toISOString())
    .all<{ campaign_id: string; occurrence: string; org: string }>();
  if (results.length === 0) return 0;
  const touched = new Date(real).toISOString();
  await env.DB.batch(
    results.map((r) =>
      env.DB.prepare("UPDATE campaign_runs SET updated_at = ?3 WHERE campaign_id = ?1 AND occurrence = ?2").bind(r.campaign_id, r.occurrence, touched),
    ),
  );
  await sendScheduleMessages(
    env.SCHEDULE_QUEUE,
    results.map((r) => ({ type: "schedule_page" as const, org: r.org, campaignId: r.campaign_id, occurrence: r.occurrence })),
  );
  return results.length;
}
