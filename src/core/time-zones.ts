/**
 * IANA time zones through the runtime's own Intl (workerd ships full ICU data): validating a zone
 * name, a calendar date at an instant in a zone, and the instant a zone's day begins. Dates are
 * `YYYY-MM-DD` strings; instants are epoch milliseconds.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Whether the runtime knows this IANA zone name (`Europe/Paris`, `UTC`, `Pacific/Kiritimati`). */
export function isTimeZone(name: string): boolean {
  if (!name || name.length > 64) return false;
  try {
    formatter(name);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock time in `timeZone` at `at`, read as if it were UTC (for offsets and dates). */
function wallClock(timeZone: string, at: number): number {
  const p: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(at)) if (part.type !== "literal") p[part.type] = Number(part.value);
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
}

/** The calendar date (`YYYY-MM-DD`) in `timeZone` at instant `at`. */
export function localDate(timeZone: string, at: number): string {
  return new Date(wallClock(timeZone, at)).toISOString().slice(0, 10);
}

/** `date` plus `days` calendar days. */
export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

const STEP_MS = 15 * 60_000;

/**
 * The first instant at which the date in `timeZone` is `date`: local midnight, or the end of a
 * daylight-saving gap that swallowed it. Offsets are whole quarter hours in every IANA zone.
 */
export function startOfLocalDay(timeZone: string, date: string): number {
  const midnight = Date.parse(`${date}T00:00:00Z`);
  let t = midnight - (wallClock(timeZone, midnight) - midnight);
  t = midnight - (wallClock(timeZone, t) - t);
  for (let i = 0; i < 16 && localDate(timeZone, t) < date; i++) t += STEP_MS;
  for (let i = 0; i < 16 && localDate(timeZone, t - STEP_MS) >= date; i++) t -= STEP_MS;
  return t;
}

/**
 * The instant at which the clock in `timeZone` reads `seconds` past the start of `date` (e.g.
 * 23:59:59). A time a daylight-saving gap skips lands just after the gap; one an overlap repeats is
 * taken at its first occurrence.
 */
export function atLocalTime(timeZone: string, date: string, seconds: number): number {
  const wanted = Date.parse(`${date}T00:00:00Z`) + seconds * 1000;
  let t = wanted - (wallClock(timeZone, wanted) - wanted);
  t = wanted - (wallClock(timeZone, t) - t);
  // Earlier offsets first: of two instants showing the wanted time (an overlap), the first.
  for (let i = 0; i < 8 && wallClock(timeZone, t - 3_600_000) === wanted; i++) t -= 3_600_000;
  for (let i = 0; i < 16 && wallClock(timeZone, t) < wanted; i++) t += STEP_MS;
  return t;
}
