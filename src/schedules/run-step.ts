/**
 * The steps of a scheduled run, one queue message each: a page of the occurrence's audience, or a
 * group of customers whose local day has now begun. Every customer × occurrence is evaluated as a
 * synthetic event through the event pipeline (src/events/events.service.ts), with an id fixed per
 * occurrence, so the event dedupe makes any re-run of a page (a retried message, a second tick)
 * reward nobody twice, and `GET /v1/events/{id}` shows each evaluation.
 */
import { AppError } from "../core/errors";
import { localDate, startOfLocalDay } from "../core/time-zones";
import type { Auth, Env } from "../env";
import { type EventInput, ingestEvents } from "../events/events.service";
import { getSettings } from "../settings/settings.service";
import {
  type DateParams,
  datePage,
  type InactivityParams,
  inactivityPage,
  type Page,
  type Profile,
  profilesByIds,
  type ScheduleParams,
  segmentPage,
} from "./audiences";
import { commitPage, finishWait, readRun, type RunCounts, type RunRow, stopRun, type WaitRow, zeroCounts } from "./schedule-store";

export const SCHEDULER: Auth = { org: "", sub: "system:schedules", roles: [] };

export type StepResult = "more" | "done" | "stale";

async function campaignStatus(d1: D1Database, id: string): Promise<string | null> {
  return (await d1.prepare("SELECT status FROM campaigns WHERE id = ?").bind(id).first<{ status: string }>())?.status ?? null;
}

function customerOf(p: Profile): EventInput["customer"] {
  const opt = (v: string | null) => v ?? undefined;
  return {
    external_id: p.external_id,
    email: opt(p.email),
    phone: opt(p.phone),
    name: opt(p.name),
    country: opt(p.country),
    attributes: JSON.parse(p.attributes),
  };
}

/** The synthetic event of one customer × occurrence; its id is the dedupe key. */
export function eventFor(run: Pick<RunRow, "campaign_id" | "occurrence" | "kind" | "params" | "as_of">, p: Profile, dueAt?: number): EventInput | null {
  const base = { campaign_id: run.campaign_id, customer: customerOf(p) };
  if (run.kind === "date_attribute") {
    const params = JSON.parse(run.params) as DateParams;
    const value = base.customer.attributes?.[params.attribute];
    const year = Number(params.date.slice(0, 4));
    const born = typeof value === "string" && /^\d{4}-/.test(value) ? Number(value.slice(0, 4)) : null;
    // An anniversary of a dated value starts the year after it (a signup today is not its own anniversary).
    if (born !== null && born >= year) return null;
    return {
      ...base,
      id: `date:${run.campaign_id}:${params.attribute}:${year}:${p.external_id}`,
      type: "date_attribute",
      occurred_at: new Date(dueAt!).toISOString(),
      properties: { attribute: params.attribute, value, date: params.date, ...(born !== null ? { years: year - born } : {}) },
    };
  }
  if (run.kind === "inactivity") {
    const params = JSON.parse(run.params) as InactivityParams;
    return {
      ...base,
      id: `inactivity:${run.campaign_id}:${p.external_id}:${p.last_seen_at}`,
      type: "inactivity",
      // When the run found them inactive (the tick that started it: fixed per run, so a replay sends the same event).
      occurred_at: run.as_of,
      properties: { days: params.days, last_seen_at: p.last_seen_at },
    };
  }
  const params = JSON.parse(run.params) as ScheduleParams;
  return {
    ...base,
    id: `schedule:${run.campaign_id}:${run.occurrence}:${p.external_id}`,
    type: "schedule",
    occurred_at: run.occurrence,
    properties: { occurrence: run.occurrence, segment_id: params.segment_id },
  };
}

/**
 * Evaluates a page's events as one request of the event pipeline (`ingestEvents`: one claim, one
 * pool call for the campaign, one transaction) and counts their outcomes. An event another
 * evaluation still holds fails the step, so the message is retried and the page replays.
 */
async function evaluateAll(env: Env, org: string, events: EventInput[], counts: RunCounts): Promise<void> {
  if (events.length === 0) return;
  const { data } = await ingestEvents(env, { ...SCHEDULER, org }, events);
  for (const a of data) {
    if ("error" in a) throw new AppError("conflict", a.error.detail, { retry_after_seconds: 1 });
    counts.evaluated += 1;
    const o = a.outcomes[0]?.outcome;
    if (o === "rewarded") counts.rewarded += 1;
    else if (o === "pending_approval") counts.pending += 1;
    else counts.skipped += 1;
  }
}

function readPage(d1: D1Database, run: RunRow): Promise<Page> {
  if (run.kind === "date_attribute") return datePage(d1, run.org, JSON.parse(run.params), run.cursor);
  if (run.kind === "inactivity") return inactivityPage(d1, run.org, JSON.parse(run.params), run.cursor);
  return segmentPage(d1, run.org, JSON.parse(run.params), run.cursor);
}

/**
 * One page of a run. A date run sorts each customer by their local date at the run's clock: on the
 * day → evaluated now; before it → waits for the instant it begins (a campaign_run_waits row, sent by
 * the tick); after it (the run started late) → missed. Returns whether more pages follow.
 */
export async function runPage(env: Env, campaignId: string, occurrence: string): Promise<StepResult> {
  const run = await readRun(env.DB, campaignId, occurrence);
  if (run?.status !== "running") return "stale";
  if ((await campaignStatus(env.DB, campaignId)) !== "active") {
    await stopRun(env.DB, run);
    return "done";
  }
  const page = await readPage(env.DB, run);
  const counts = zeroCounts();
  counts.rowsRead = page.rowsRead;
  const events: EventInput[] = [];
  const waits = new Map<string, string[]>();
  if (run.kind === "date_attribute") {
    const { date } = JSON.parse(run.params) as DateParams;
    const asOf = Date.parse(run.as_of);
    const orgZone = (await getSettings(env.DB, run.org)).time_zone;
    for (const p of page.profiles) {
      const zone = zoneOf(p.time_zone, orgZone);
      const today = localDate(zone, asOf);
      const start = startOfLocalDay(zone, date);
      if (today < date) {
        const due = new Date(start).toISOString();
        waits.set(due, [...(waits.get(due) ?? []), p.external_id]);
        counts.waiting += 1;
      } else if (today > date) counts.missed += 1;
      else {
        const e = eventFor(run, p, start);
        if (e) events.push(e);
      }
    }
  } else {
    for (const p of page.profiles) events.push(eventFor(run, p)!);
  }
  await evaluateAll(env, run.org, events, counts);
  const applied = await commitPage(env.DB, run, {
    cursor: page.cursor,
    done: page.cursor === null,
    counts,
    waits: [...waits].map(([dueAt, externalIds]) => ({ dueAt, externalIds })),
  });
  if (!applied) return "stale";
  return page.cursor === null ? "done" : "more";
}

/** A customer's zone: their own when the runtime knows it, else the org's. */
function zoneOf(customerZone: string | null, orgZone: string): string {
  if (!customerZone) return orgZone;
  try {
    localDate(customerZone, 0);
    return customerZone;
  } catch {
    return orgZone;
  }
}

/** A group of a date run's customers whose local day has begun: evaluated now, then the wait is removed. */
export async function runWait(env: Env, key: Pick<WaitRow, "campaign_id" | "occurrence" | "due_at" | "seq">): Promise<void> {
  const w = await env.DB.prepare("SELECT * FROM campaign_run_waits WHERE campaign_id = ?1 AND occurrence = ?2 AND due_at = ?3 AND seq = ?4")
    .bind(key.campaign_id, key.occurrence, key.due_at, key.seq)
    .first<WaitRow>();
  if (!w) return;
  const run = await readRun(env.DB, w.campaign_id, w.occurrence);
  const ids = JSON.parse(w.external_ids) as string[];
  const counts = zeroCounts();
  if (run && (await campaignStatus(env.DB, w.campaign_id)) === "active") {
    const { profiles, rowsRead } = await profilesByIds(env.DB, w.org, ids);
    counts.rowsRead = rowsRead + 1;
    const events = profiles.map((p) => eventFor(run, p, Date.parse(w.due_at))).filter((e): e is EventInput => e !== null);
    await evaluateAll(env, w.org, events, counts);
  }
  await finishWait(env, w, counts, ids.length);
}
