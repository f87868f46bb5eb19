/**
 * Scheduled campaign triggers (date_attribute, inactivity, schedule): when each campaign's next
 * occurrence is due, the runs that evaluate an occurrence's audience in pages, and the groups of
 * customers a date run waits for (their local day has not begun yet).
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * One row per campaign with a scheduled trigger, written with the campaign (create, PATCH). The cron
 * tick reads the rows whose `next_at` has come, starts that occurrence's run if the campaign is
 * active, and moves `next_at` on. `watermark` is the inactivity trigger's `last_seen_at` bound already
 * covered, so each run reads only the customers who crossed the threshold since the previous one.
 */
export const campaignSchedules = sqliteTable(
  "campaign_schedules",
  {
    campaignId: text("campaign_id").primaryKey(),
    org: text("org").notNull(),
    kind: text("kind", { enum: ["date_attribute", "inactivity", "schedule"] }).notNull(),
    /** The next occurrence's key: `YYYY-MM-DD` for date and inactivity runs, the ISO instant of a cron occurrence. */
    nextOccurrence: text("next_occurrence").notNull(),
    nextAt: text("next_at").notNull(),
    watermark: text("watermark"),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [index("campaign_schedules_due").on(t.nextAt)],
);

/**
 * One run per campaign and occurrence (the key makes a second tick of the same occurrence a no-op).
 * A run advances one page per step; `step` guards the cursor so two invocations never both apply a
 * page. Counts are of this run's evaluations; `rows_read` counts the audience rows it read.
 */
export const campaignRuns = sqliteTable(
  "campaign_runs",
  {
    campaignId: text("campaign_id").notNull(),
    occurrence: text("occurrence").notNull(),
    org: text("org").notNull(),
    kind: text("kind", { enum: ["date_attribute", "inactivity", "schedule"] }).notNull(),
    status: text("status", { enum: ["running", "done", "stopped"] }).notNull(),
    /** The time the run decides by (the tick that started it): whose local day has begun, who is inactive. */
    asOf: text("as_of").notNull(),
    /** What the run reads: month-days, a last_seen range, a segment (JSON). */
    params: text("params").notNull(),
    cursor: text("cursor"),
    step: integer("step").notNull().default(0),
    evaluated: integer("evaluated").notNull().default(0),
    rewarded: integer("rewarded").notNull().default(0),
    pending: integer("pending").notNull().default(0),
    skipped: integer("skipped").notNull().default(0),
    waiting: integer("waiting").notNull().default(0),
    missed: integer("missed").notNull().default(0),
    rowsRead: integer("rows_read").notNull().default(0),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    completedAt: text("completed_at"),
  },
  (t) => [
    primaryKey({ columns: [t.campaignId, t.occurrence] }),
    // The tick's sweep: runs nobody advanced for a while get their next page message again.
    index("campaign_runs_running").on(t.updatedAt).where(sql`status = 'running'`),
  ],
);

/**
 * Customers of a date run whose local day had not begun when the run read them (a time zone west
 * of the run's clock), grouped by the instant it begins: the tick sends each group once it is due.
 * External ids only.
 */
export const campaignRunWaits = sqliteTable(
  "campaign_run_waits",
  {
    campaignId: text("campaign_id").notNull(),
    occurrence: text("occurrence").notNull(),
    dueAt: text("due_at").notNull(),
    seq: integer("seq").notNull(),
    org: text("org").notNull(),
    externalIds: text("external_ids").notNull(),
    claimedUntil: text("claimed_until"),
  },
  (t) => [primaryKey({ columns: [t.campaignId, t.occurrence, t.dueAt, t.seq] }), index("campaign_run_waits_due").on(t.dueAt)],
);
