import { env } from "cloudflare:workers";
import { type CustomerProfile, replaceStatements, touchStatements } from "../../src/customers/customer-store";
import { runScheduledTriggers } from "../../src/schedules/tick";

/** Writes a profile the way the customer routes do (customer-store.ts), optionally as last seen at `seenAt`. */
export async function putProfile(org: string, p: CustomerProfile, seenAt?: string): Promise<void> {
  const now = new Date().toISOString();
  const stmts = seenAt ? touchStatements(env, org, p, null, seenAt, now) : replaceStatements(env, org, p, null, now);
  await env.DB.batch(stmts);
}

/** A segment and its members (inside or not), as the segment routes would leave them. */
export async function seedSegment(org: string, id: string, members: Record<string, boolean>): Promise<void> {
  const now = new Date().toISOString();
  await env.DB.batch([
    env.DB.prepare("INSERT INTO segments (id, org, name, condition, created_by, created_at, updated_at) VALUES (?1, ?2, ?3, 'true', 'test', ?4, ?4)").bind(
      id,
      org,
      `Segment ${id}`,
      now,
    ),
    ...Object.entries(members).map(([ext, inside]) =>
      env.DB.prepare("INSERT INTO segment_members (org, segment_id, external_id, inside, entries, changed_at) VALUES (?1, ?2, ?3, ?4, 1, ?5)").bind(
        org,
        id,
        ext,
        inside ? 1 : 0,
        now,
      ),
    ),
  ]);
}

/**
 * Runs the tick at a simulated time and waits until the queue has finished every run and wait it
 * started (storage is shared within a test file, so the tick sees every test's campaigns).
 */
export async function tickAt(iso: string, _campaignId?: string, timeoutMs = 25_000) {
  const result = await runScheduledTriggers(env, new Date(iso));
  const until = Date.now() + timeoutMs;
  for (;;) {
    const busy = await env.DB.prepare(
      `SELECT /* test helper */ (SELECT COUNT(*) FROM campaign_runs WHERE status = 'running')
            + (SELECT COUNT(*) FROM campaign_run_waits WHERE claimed_until IS NOT NULL) AS n`,
    ).first<{ n: number }>();
    if (busy!.n === 0) return result;
    if (Date.now() > until) throw new Error(`scheduled runs still busy after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Outcomes of a campaign by customer: external id → outcomes in order. */
export async function outcomesByCustomer(campaignId: string): Promise<Record<string, string[]>> {
  const { results } = await env.DB.prepare("SELECT external_id, outcome, event_id FROM campaign_outcomes WHERE campaign_id = ? ORDER BY event_id")
    .bind(campaignId)
    .all<{ external_id: string; outcome: string }>();
  const out: Record<string, string[]> = {};
  for (const r of results) out[r.external_id] = [...(out[r.external_id] ?? []), r.outcome];
  return out;
}

export async function runsOf(campaignId: string) {
  const { results } = await env.DB.prepare("SELECT * FROM campaign_runs WHERE campaign_id = ? ORDER BY occurrence").bind(campaignId).all<Record<string, any>>();
  return results;
}

/** The first year ≥ `from` that is (or is not) a leap year. */
export function yearFrom(from: number, leap: boolean): number {
  const isLeap = (y: number) => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  let y = from;
  while (isLeap(y) !== leap) y++;
  return y;
}
