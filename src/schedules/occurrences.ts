/**
 * The scheduled trigger kinds (API.md "Campaigns and events"): their validation, and when each
 * occurrence is due. Pure functions of the trigger, the org's time zone and a clock.
 *
 * - `date_attribute`: one occurrence per calendar date D. A customer's D lasts from between D−1 10:00
 *   UTC (UTC+14) and D 12:00 UTC (UTC−12) for 24 hours. D's run is due when D begins in the org's
 *   time zone (at the latest D 09:00 UTC, before UTC+14's D ends): it rewards everyone whose local
 *   day has begun (the org's zone and every zone east of it) and leaves the customers west of it
 *   waiting for the instant theirs begins (src/schedules/run-step.ts). Starting at UTC+14 instead
 *   would reward the east on the stroke of midnight, but then nearly everyone waits, and a waiting
 *   customer's profile is read twice (4 rows instead of 2: test/bench/README.md "schedules").
 * - `inactivity`: one occurrence per UTC date D, due at D 00:00 UTC, over the customers whose last
 *   event falls in [previous bound, D − days).
 * - `schedule`: the cron expression's occurrences, read in the org's time zone (croner).
 */
import { Cron } from "croner";
import { AppError } from "../core/errors";
import { addDays, startOfLocalDay } from "../core/time-zones";

export type ScheduledTrigger =
  | { kind: "date_attribute"; attribute: string }
  | { kind: "inactivity"; days: number }
  | { kind: "schedule"; cron: string; segment_id: string };
export type ScheduledKind = ScheduledTrigger["kind"];

export interface Occurrence {
  key: string;
  dueAt: number;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const utcDate = (at: number) => new Date(at).toISOString().slice(0, 10);
const midnight = (date: string) => Date.parse(`${date}T00:00:00Z`);

export function isScheduled(trigger: unknown): trigger is ScheduledTrigger {
  const kind = (trigger as { kind?: string } | null)?.kind;
  return kind === "date_attribute" || kind === "inactivity" || kind === "schedule";
}

function invalid(pointer: string, detail: string): AppError {
  return new AppError("validation_failed", `${pointer}: ${detail}`, { errors: [{ pointer, code: "invalid", detail }] });
}

/** A 5-field cron expression in `timeZone`; 400 at /trigger/cron when it does not parse or never fires. */
export function parseCron(expr: string, timeZone: string): Cron {
  let cron: Cron;
  try {
    cron = new Cron(expr, { timezone: timeZone, mode: "5-part", paused: true });
  } catch (err) {
    throw invalid("/trigger/cron", `Not a 5-field cron expression: ${(err as Error).message.replace(/^CronPattern: /, "")}`);
  }
  if (!cron.nextRun(new Date())) throw invalid("/trigger/cron", "This expression never fires");
  return cron;
}

/** When date D's run is due: D's start in the org's zone, but before D ends anywhere (UTC+14, at D 10:00 UTC). */
const dateDue = (date: string, timeZone: string) => Math.min(startOfLocalDay(timeZone, date), midnight(date) + 9 * HOUR_MS);
/** The last instant any time zone (UTC−12) is still on D. */
const dateOver = (date: string) => midnight(date) + 36 * HOUR_MS;

/** The first occurrence a new (or long-idle) schedule starts from. */
export function firstOccurrence(t: ScheduledTrigger, now: number, timeZone: string): Occurrence {
  if (t.kind === "date_attribute") {
    // The earliest date some time zone is still on.
    const date = utcDate(now - 12 * HOUR_MS);
    return { key: date, dueAt: dateDue(date, timeZone) };
  }
  if (t.kind === "inactivity") {
    const date = utcDate(now);
    return { key: date, dueAt: midnight(date) };
  }
  const next = parseCron(t.cron, timeZone).nextRun(new Date(now))!;
  return { key: next.toISOString(), dueAt: next.getTime() };
}

/** The occurrence after `key`. */
export function nextOccurrence(t: ScheduledTrigger, key: string, timeZone: string): Occurrence | null {
  if (t.kind === "date_attribute") {
    const date = addDays(key, 1);
    return { key: date, dueAt: dateDue(date, timeZone) };
  }
  if (t.kind === "inactivity") {
    const date = addDays(key, 1);
    return { key: date, dueAt: midnight(date) };
  }
  const next = parseCron(t.cron, timeZone).nextRun(new Date(Date.parse(key)));
  return next ? { key: next.toISOString(), dueAt: next.getTime() } : null;
}

/**
 * The occurrence a tick at `now` runs for a schedule whose stored occurrence is due. A date run
 * whose day is over everywhere, or an inactivity run of an earlier day, is replaced by the current
 * one (the inactivity watermark covers the days between); a cron schedule runs only its latest
 * occurrence (occurrences missed while the cron did not run collapse into it).
 */
export function occurrenceToRun(t: ScheduledTrigger, stored: Occurrence, now: number, timeZone: string): Occurrence {
  if (t.kind === "date_attribute") return dateOver(stored.key) <= now ? firstOccurrence(t, now, timeZone) : stored;
  if (t.kind === "inactivity") return stored.key < utcDate(now) ? firstOccurrence(t, now, timeZone) : stored;
  const latest = parseCron(t.cron, timeZone).previousRuns(1, new Date(now + 1))[0];
  return latest && latest.getTime() >= stored.dueAt ? { key: latest.toISOString(), dueAt: latest.getTime() } : stored;
}

/** The month-days a date run of D reads: February 29 birthdays are celebrated on February 28 in common years. */
export function monthDaysFor(date: string): string[] {
  const md = date.slice(5);
  const year = Number(date.slice(0, 4));
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return md === "02-28" && !leap ? ["02-28", "02-29"] : [md];
}

/** The inactivity run of D covers customers whose last event is before D − days (UTC midnight). */
export const inactiveBefore = (date: string, days: number) => new Date(midnight(date) - days * DAY_MS).toISOString();
