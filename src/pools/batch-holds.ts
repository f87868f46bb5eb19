/**
 * A batch's funds in its pool: one hold per batch (`batchHoldId`, the id delivery commits from),
 * reserved on submit, pinned while it delivers, released "rest" when it ends or on a side exit,
 * and swept when nothing owns it. Every call is idempotent: a retried submit adopts the hold an
 * earlier attempt made, and a release replays by its operation id (op-ids.ts).
 */
import type { BatchRow } from "../batches/batch-state";
import { AppError } from "../core/errors";
import type { Env } from "../env";
import type { Hold } from "../../durable-objects/pool-types";
import { batchHoldId, opIds } from "./op-ids";
import { poolBalance, poolError, poolStub, unwrap } from "./pool-client";
import { requirePool } from "./pools.service";

/** Reserves the batch's valid total until `expiresAt`; 409 insufficient_funds / limit_exceeded changes nothing. */
export async function reserveBatchHold(env: Env, batch: BatchRow, expiresAt: number, actor: string): Promise<Hold> {
  const pool = await requirePool(env.DB, batch.org, batch.poolId);
  await poolBalance(env, pool); // re-initialises a pool DO that lost its init
  const stub = poolStub(env, pool.id);
  const holdId = batchHoldId(batch.id);
  // Touched as it is read: the orphan-hold sweep releases only holds nobody used for a while.
  const existing = await stub.touchHold(holdId);
  // A hold that ended without paying anything (released by the sweep or a cancel, or expired) is reopened.
  if (existing?.state === "pending" || (existing && existing.committed > 0)) return adoptHold(env, batch, existing, actor);
  // The hold id is what makes this idempotent (a second reserve of it answers hold_exists). The
  // operation id is one per attempt: the pool stores a refusal under its operation id, so an id
  // shared by all attempts would answer every submit after an insufficient_funds with that refusal,
  // however much was funded meanwhile.
  const opId = opIds.reserveBatchHold(holdId, expiresAt);
  const result = await stub.reserve({ opId, holdId, amount: batch.validTotal, expiresAt, actor, reference: `batch ${batch.id} submitted`, reopen: true });
  if (result.ok) return result.hold;
  // A concurrent submit reserved first.
  if (result.code === "hold_exists" || result.code === "operation_id_reused") {
    const raced = await stub.touchHold(holdId);
    if (raced) return adoptHold(env, batch, raced, actor);
  }
  throw poolError(result);
}

/**
 * A hold left by an earlier attempt whose status change did not happen (crash, or an upload that
 * committed meanwhile): reuse it when it still covers exactly this content, shrink it when it holds
 * more, and refuse plainly otherwise (the pool's alarm frees it at its expiry).
 */
async function adoptHold(env: Env, batch: BatchRow, hold: Hold, actor: string): Promise<Hold> {
  const usable = hold.state === "pending" && hold.committed === 0;
  if (usable && hold.remaining === batch.validTotal) return hold;
  if (usable && hold.remaining > batch.validTotal) {
    const excess = hold.remaining - batch.validTotal;
    const r = await poolStub(env, batch.poolId).release({
      opId: opIds.resizeBatchHold(hold.hold_id, batch.contentVersion),
      holdId: hold.hold_id,
      amount: excess,
      actor,
      reference: `batch ${batch.id} resubmitted with a smaller total`,
    });
    if (!r.ok) throw poolError(r);
    return r.hold;
  }
  throw new AppError(
    "conflict",
    `An earlier submission attempt left hold ${hold.hold_id} ${hold.state} with ${hold.remaining} reserved, which cannot cover ${batch.validTotal}; it is freed when it expires (${new Date(hold.expires_at).toISOString()})`,
    {
      hold: { id: hold.hold_id, state: hold.state, remaining: hold.remaining, expires_at: new Date(hold.expires_at).toISOString() },
    },
  );
}

/**
 * Gives back whatever the batch's hold still reserves. Same actor and reference on every call for a
 * batch, so a retry replays the first release; a hold that already expired or was released answers 0.
 * Null when the batch never had a hold.
 */
export async function releaseBatchHold(env: Env, batch: BatchRow, actor: string, reference: string): Promise<{ released: number } | null> {
  const holdId = batchHoldId(batch.id);
  const result = await poolStub(env, batch.poolId).release({ opId: opIds.releaseBatchHold(holdId), holdId, amount: "rest", actor, reference });
  if (result.ok) return { released: result.released };
  if (result.code === "hold_not_found") return null;
  throw poolError(result);
}

/**
 * A submit whose status change failed because the batch left `validated` for a state that holds
 * nothing (a cancel won the race) gives back the hold it reserved or adopted: nobody else will.
 * "rest" of a closed hold answers 0, so this is safe however many attempts run it; the operation id
 * is fresh each time because a hold can be reopened later and must not meet an old replay.
 */
export async function abandonBatchHold(env: Env, batch: BatchRow, status: string): Promise<number> {
  const holdId = batchHoldId(batch.id);
  const result = await poolStub(env, batch.poolId).release({
    opId: opIds.abandonBatchHold(holdId),
    holdId,
    amount: "rest",
    actor: SUBMIT_ACTOR,
    reference: `batch ${batch.id} became ${status} while a submit was reserving`,
  });
  if (result.ok) return result.released;
  if (result.code === "hold_not_found") return 0;
  throw poolError(result);
}

export const SUBMIT_ACTOR = "system:submit";

/** While a batch delivers, its hold is pinned this far ahead so it cannot expire half-way. */
const DELIVERY_HOLD_DAYS = 30;

/** Pins the hold of a batch that starts delivering; a hold no longer pending (a replayed release) is left as it is. */
export async function pinBatchHold(env: Env, batch: Pick<BatchRow, "id" | "poolId">): Promise<void> {
  const pinned = await poolStub(env, batch.poolId).extendHold(batchHoldId(batch.id), Date.now() + DELIVERY_HOLD_DAYS * 86_400_000);
  if (!pinned.ok && pinned.code !== "hold_not_active") throw poolError(pinned);
}

/** Gives back what a batch whose deliveries all settled did not commit; replays once per batch. */
export async function endBatchHold(env: Env, batch: Pick<BatchRow, "id" | "poolId">, actor: string): Promise<number> {
  const result = await poolStub(env, batch.poolId).release({ opId: opIds.endBatchHold(batch.id), holdId: batchHoldId(batch.id), amount: "rest", actor });
  return unwrap(result).released;
}

/**
 * The orphan-hold sweep's release (src/batches/orphan-holds.ts): the hold's rest, unless a submit
 * touched it within `idleMs` (then `null`: it is in use). A hold already gone answers `null` too.
 */
export async function releaseOrphanHold(
  env: Env,
  poolId: string,
  o: { holdId: string; actor: string; reference: string; idleMs?: number },
): Promise<number | null> {
  const result = await poolStub(env, poolId).release({
    opId: opIds.sweepOrphanHold(o.holdId),
    holdId: o.holdId,
    amount: "rest",
    actor: o.actor,
    reference: o.reference,
    idleMs: o.idleMs,
  });
  if (result.ok) return result.released;
  if (result.code === "hold_busy" || result.code === "hold_not_found") return null;
  throw poolError(result);
}

/** Resolving an `expired_hold_unreleased` exception with cancel: the hold's rest, once per exception. */
export async function releaseHoldForException(env: Env, poolId: string, holdId: string, exceptionId: string, actor: string): Promise<number> {
  const result = await poolStub(env, poolId).release({
    opId: opIds.releaseForException(exceptionId),
    holdId,
    amount: "rest",
    actor,
    reference: `exception ${exceptionId} resolved with cancel`,
  });
  if (!result.ok && result.code !== "hold_not_found") throw poolError(result);
  return result.ok ? result.released : 0;
}
