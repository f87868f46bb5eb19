/**
 * Read-only questions to a pool's Durable Object, for reconciliation, the ledger page and the
 * orphan-hold sweep. None of them moves money; `syncPoolMirror` only copies the journal to D1.
 */
import type { Env } from "../env";
import type { HoldTotals, ItemState, JournalPage, OpenHold } from "../../durable-objects/pool-reads";
import type { Balance, Hold } from "../../durable-objects/pool-types";
import { poolStub } from "./pool-client";

type PoolEnv = Pick<Env, "FUNDING_POOL">;

/** Drains the pool's journal into D1 (`pool_ledger`, the `pools` mirror); returns the entries copied. */
export function syncPoolMirror(env: PoolEnv, poolId: string): Promise<number> {
  return poolStub(env, poolId).syncMirror();
}

export function journalPage(env: PoolEnv, poolId: string, afterSeq: number, limit: number): Promise<JournalPage> {
  return poolStub(env, poolId).journalPage(afterSeq, limit);
}

/** The DO's own check of its invariant (buckets add up, none negative, holds and items agree). */
export function checkPoolIntegrity(env: PoolEnv, poolId: string): Promise<{ ok: boolean; problems: string[]; balance: Balance }> {
  return poolStub(env, poolId).checkIntegrity();
}

/** Holds still reserving value that expired before `before`, at most `limit`. */
export function overdueHolds(env: PoolEnv, poolId: string, before: number, limit: number): Promise<Hold[]> {
  return poolStub(env, poolId).overdueHolds(before, limit);
}

/** The named holds with the totals of their committed items. */
export function holdsWithItems(env: PoolEnv, poolId: string, holdIds: string[]): Promise<HoldTotals[]> {
  return poolStub(env, poolId).holdsWithItems(holdIds);
}

/** Open holds after `afterHoldId` in id order, a page of at most `limit`. */
export function openHolds(env: PoolEnv, poolId: string, afterHoldId: string, limit: number): Promise<OpenHold[]> {
  return poolStub(env, poolId).openHolds(afterHoldId, limit);
}

/** The items whose pool state or amount disagrees with `expected` (JSON `[[item, amount, state], …]`). */
export function itemsDisagreeing(env: PoolEnv, poolId: string, expected: string): Promise<ItemState[]> {
  return poolStub(env, poolId).itemsDisagreeing(expected);
}

/** True while the pool still holds `item` as committed (a reversal it refused left it so). */
export async function itemStillCommitted(env: PoolEnv, poolId: string, item: string): Promise<boolean> {
  const [disagreeing] = await itemsDisagreeing(env, poolId, JSON.stringify([[item, 0, "reversed"]]));
  return disagreeing?.state === "committed";
}
