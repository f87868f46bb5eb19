/**
 * Every call a campaign makes to its pool's Durable Object, with the operation ids built here. A
 * campaign's budget is held in the pool as holds: `hold_<campaign id>` reserved on activation, then
 * `hold_<campaign id>_<n>` per top-up (the DO cannot grow a hold). Rewards are claimed from the first
 * hold with room, with the campaign's caps, in one call per request; `ended` releases the rest of
 * each hold once (fixed op ids).
 */
import type { Env } from "../env";
import type { CampaignClaimInput, CampaignItemOutcome, Hold } from "../../durable-objects/pool-types";
import { campaignHoldId, opIds } from "./op-ids";
import { poolError, poolStub } from "./pool-client";

/** Campaign holds live as long as the campaign may pay: its end plus this margin, or this long when open-ended. */
const OPEN_ENDED_MS = 5 * 365 * 86_400_000;
const AFTER_END_MS = 30 * 86_400_000;

const holdIds = (campaignId: string, count: number) => Array.from({ length: count }, (_, n) => campaignHoldId(campaignId, n));

export interface CampaignRef {
  id: string;
  poolId: string;
  holdCount: number;
  endsAt: string | null;
}

/**
 * Reserves hold number `n` of the campaign (activation: 0, top-ups: 1, 2, ...). A retry after a crash
 * finds the hold already pending and adopts it. Refusals (insufficient_funds, limit_exceeded) throw the API's error.
 */
export async function reserveCampaignHold(env: Env, c: CampaignRef, n: number, amount: number, actor: string): Promise<Hold> {
  const holdId = campaignHoldId(c.id, n);
  const expiresAt = c.endsAt ? Date.parse(c.endsAt) + AFTER_END_MS : Date.now() + OPEN_ENDED_MS;
  const stub = poolStub(env, c.poolId);
  const res = await stub.reserve({ opId: opIds.reserveCampaignHold(holdId), holdId, amount, expiresAt, actor, reference: c.id });
  if (res.ok) return res.hold;
  if (res.code === "hold_exists" || res.code === "operation_id_reused") {
    const hold = await stub.getHold(holdId);
    if (hold && hold.state === "pending" && hold.amount === amount) return hold;
  }
  throw poolError(res);
}

/**
 * Claims rewards of one campaign in one call to its pool: caps (per customer, per campaign, per
 * period), the pause threshold and the budget, decided together and atomically in the pool DO, so
 * concurrent requests never pass a cap or overspend together. Item ids are the delivery ids.
 */
export async function claimCampaignRewards(
  env: Env,
  c: CampaignRef,
  args: Omit<CampaignClaimInput, "campaignId" | "holdIds" | "actor">,
): Promise<{ items: CampaignItemOutcome[]; committed: number }> {
  const res = await poolStub(env, c.poolId).claimCampaignRewards({
    ...args,
    campaignId: c.id,
    holdIds: holdIds(c.id, Math.max(1, c.holdCount)),
    actor: "system:campaigns",
  });
  if (!res.ok) throw poolError(res);
  return { items: res.items, committed: res.committed };
}

/** Which of these reward ids the pool holds as committed (a re-run evaluation keeps them, whatever it would decide now). */
export async function committedCampaignItems(env: Env, poolId: string, ids: string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const rows = await poolStub(env, poolId).itemStates(ids);
  return new Map(rows.filter((r) => r.state === "committed").map((r) => [r.item_id, r.amount]));
}

/** Gives a committed reward that will not be paid (rejected approval) back to its hold, or to available once the hold ended. */
export async function refundCampaignReward(env: Env, c: CampaignRef, itemId: string, actor: string): Promise<void> {
  const res = await poolStub(env, c.poolId).refund({ opId: opIds.refundCampaignReward(itemId), itemId, actor });
  if (!res.ok && res.code !== "item_not_committed") throw poolError(res);
}

/** Releases what is left of every hold of an ended campaign; each release has a fixed op id, so it happens once. */
export async function releaseCampaignBudget(env: Env, c: CampaignRef, actor: string): Promise<number> {
  const stub = poolStub(env, c.poolId);
  let released = 0;
  for (const holdId of holdIds(c.id, c.holdCount)) {
    const res = await stub.release({ opId: opIds.endCampaignHold(holdId), holdId, amount: "rest", actor, reference: c.id });
    if (res.ok) released += res.released;
    else if (res.code !== "hold_not_active" && res.code !== "hold_not_found") throw poolError(res);
  }
  return released;
}

/** The campaign's holds as the pool sees them (missing ones left out). */
export async function campaignHolds(env: Env, c: CampaignRef): Promise<Hold[]> {
  const stub = poolStub(env, c.poolId);
  const holds: (Hold | null)[] = await Promise.all(
    holdIds(c.id, c.holdCount).map(async (id) => {
      const h = await stub.getHold(id);
      return h ? { ...h } : null;
    }),
  );
  return holds.filter((h): h is Hold => h !== null);
}
