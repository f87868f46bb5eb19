/**
 * The orphan-hold sweep (cron, every 5 minutes): a pool hold of a batch that holds nothing — draft,
 * validated, or ended (cancelled, rejected, expired, completed, completed_with_errors) — goes back
 * to the pool. Submit and cancel already give a hold back when they race (submit.ts); this catches
 * what a crash between their steps left behind.
 *
 * A hold of a draft or validated batch may be one a submit is about to adopt, so it is released only
 * when nobody reserved or adopted it for IDLE_MS, and the pool checks that at the moment it releases
 * (`idleMs`): a submit that touched it since wins. An ended batch can never adopt its hold again (a
 * submit refuses it, and one already running releases what it reserved), so its hold goes at once.
 *
 * Bounded per run: at most MAX_POOLS pools that reserve anything (rotating through them run by run
 * when there are more) and HOLD_PAGES pages of open holds per pool.
 */
import { appendAudit } from "../audit/audit";
import { releaseOrphanHold } from "../pools/batch-holds";
import { openHolds } from "../pools/ledger-reads";
import { batchHoldId, batchIdOfHold, isBatchHold } from "../pools/op-ids";
import type { Env } from "../env";
import { HOLDING, type BatchStatus } from "./batch-state";

export const HOLD_SWEEP_ACTOR = "system:hold-sweep";
export const IDLE_MS = 15 * 60_000;
const MAX_POOLS = 50;
const PAGE = 500;
const HOLD_PAGES = 4;
const RUN_MS = 5 * 60_000;

/** The statuses whose hold a live submit may still adopt. */
const ADOPTABLE: readonly string[] = ["draft", "validated"];

interface Orphan {
  holdId: string;
  batchId: string;
  org: string;
  status: string;
}

export async function releaseOrphanHolds(env: Env, now: Date): Promise<number> {
  let released = 0;
  for (const pool of await poolsToSweep(env.DB, now)) {
    for (const orphan of await poolOrphans(env, pool.id, now)) {
      if (await releaseOrphan(env, pool.id, orphan)) released++;
    }
  }
  if (released > 0) console.log(JSON.stringify({ job: "batches.orphan-hold-sweep", released }));
  return released;
}

/** Pools whose mirror shows value reserved; a different window of them each run when there are more than MAX_POOLS. */
async function poolsToSweep(d1: D1Database, now: Date): Promise<{ id: string }[]> {
  const count = (await d1.prepare("SELECT COUNT(*) AS n FROM pools WHERE reserved > 0").first<{ n: number }>())?.n ?? 0;
  const offset = count > MAX_POOLS ? (Math.floor(now.getTime() / RUN_MS) * MAX_POOLS) % count : 0;
  const page = (limit: number, skip: number) =>
    d1.prepare("SELECT id FROM pools WHERE reserved > 0 ORDER BY id LIMIT ? OFFSET ?").bind(limit, skip).all<{ id: string }>();
  const first = (await page(MAX_POOLS, offset)).results;
  const wrapped = offset > 0 && first.length < MAX_POOLS ? (await page(MAX_POOLS - first.length, 0)).results : [];
  return [...first, ...wrapped];
}

/** The pool's open batch holds whose batch holds nothing (an adoptable one only once idle), a few pages at most. */
async function poolOrphans(env: Env, poolId: string, now: Date): Promise<Orphan[]> {
  const out: Orphan[] = [];
  let after = "";
  for (let p = 0; p < HOLD_PAGES; p++) {
    const holds = await openHolds(env, poolId, after, PAGE);
    if (holds.length === 0) break;
    after = holds.at(-1)!.hold_id;
    const batchHolds = holds.filter((h) => isBatchHold(h.hold_id));
    const idle = new Map(batchHolds.map((h) => [h.hold_id, now.getTime() - h.touched_at >= IDLE_MS]));
    const ids = batchHolds.map((h) => batchIdOfHold(h.hold_id));
    const { results } = await env.DB.prepare("SELECT id, org, status FROM batches WHERE id IN (SELECT value FROM json_each(?)) AND pool_id = ?")
      .bind(JSON.stringify(ids), poolId)
      .all<{ id: string; org: string; status: string }>();
    for (const b of results) {
      if (HOLDING.includes(b.status as BatchStatus)) continue;
      if (ADOPTABLE.includes(b.status) && !idle.get(batchHoldId(b.id))) continue;
      out.push({ holdId: batchHoldId(b.id), batchId: b.id, org: b.org, status: b.status });
    }
    if (holds.length < PAGE) break;
  }
  return out;
}

/** Releases one orphan's rest (audited); false when a submit used the hold meanwhile or nothing was left. */
async function releaseOrphan(env: Env, poolId: string, o: Orphan): Promise<boolean> {
  const released = await releaseOrphanHold(env, poolId, {
    holdId: o.holdId,
    actor: HOLD_SWEEP_ACTOR,
    reference: `batch ${o.batchId} is ${o.status}: its hold is an orphan`,
    idleMs: ADOPTABLE.includes(o.status) ? IDLE_MS : undefined,
  });
  if (!released) return false;
  await appendAudit(env.DB, o.org, [
    {
      actor: HOLD_SWEEP_ACTOR,
      action: "batch.hold_released",
      entityType: "batch",
      entityId: o.batchId,
      after: { hold_id: o.holdId, released, reason: "orphan", batch_status: o.status },
    },
  ]);
  return true;
}
