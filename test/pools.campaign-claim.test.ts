/**
 * FundingPool.claimCampaignRewards: caps, pause threshold and budget of one campaign, decided per
 * reward in order inside the pool's transaction (durable-objects/pool-campaign.ts).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

async function campaignPool(holds: number[]) {
  const stub = env.FUNDING_POOL.get(env.FUNDING_POOL.idFromName(`cc-${crypto.randomUUID()}`));
  await stub.init({ poolId: `pool_${crypto.randomUUID()}`, org: "acme", currency: "USD" });
  await stub.fund({ opId: "f", amount: 1_000_000, actor: "t" });
  const holdIds = holds.map((_, n) => `hold_cmp_x${n ? `_${n}` : ""}`);
  for (const [n, amount] of holds.entries()) {
    await stub.reserve({ opId: `r${n}`, holdId: holdIds[n]!, amount, expiresAt: Date.now() + 3_600_000, actor: "t" });
  }
  return { stub, holdIds };
}

const item = (id: string, customerKey: string, amount = 100, day = "day:2026-12-07") => ({
  id,
  amount,
  customerKey,
  customerPeriod: day,
  campaignPeriod: day,
});
const statuses = (r: any) => r.items.map((i: any) => (i.status === "rejected" ? i.code : i.status));

describe("claiming a campaign's rewards in the pool", () => {
  it("applies the per-customer and per-campaign caps in order, per period window, and replays a claim", async () => {
    const { stub, holdIds } = await campaignPool([10_000]);
    const claim = (items: ReturnType<typeof item>[]) =>
      stub.claimCampaignRewards({ campaignId: "cmp_x", holdIds, actor: "t", caps: { perCustomer: { count: 2 }, perCampaign: { count: 4 } }, items });
    const first = await claim([item("a1", "ann"), item("a2", "ann"), item("a3", "ann"), item("b1", "bob"), item("c1", "cy"), item("d1", "dee")]);
    expect(statuses(first)).toEqual(["committed", "committed", "customer_cap", "committed", "committed", "campaign_cap"]);
    expect(first.ok && first.committed).toBe(400);
    // The same rewards again: what was committed answers already_committed and counts nothing twice.
    const again = await claim([item("a1", "ann"), item("a3", "ann"), item("b1", "bob")]);
    expect(statuses(again)).toEqual(["already_committed", "customer_cap", "already_committed"]);
    // Another day's window starts from zero.
    expect(statuses(await claim([item("a4", "ann", 100, "day:2026-12-08")]))).toEqual(["committed"]);
    // Counters: one row per scope and window, however many rewards.
    await runInDurableObject(stub, (_i, state) => {
      const rows = state.storage.sql
        .exec<{ scope: string; period: string; count: number }>("SELECT scope, period, count FROM campaign_counters ORDER BY scope, period")
        .toArray();
      expect(rows).toEqual([
        { scope: "*", period: "day:2026-12-07", count: 4 },
        { scope: "*", period: "day:2026-12-08", count: 1 },
        { scope: "ann", period: "day:2026-12-07", count: 2 },
        { scope: "ann", period: "day:2026-12-08", count: 1 },
        { scope: "bob", period: "day:2026-12-07", count: 1 },
        { scope: "cy", period: "day:2026-12-07", count: 1 },
      ]);
    });
    // A refund (a rejected approval) takes the reward off its counters: Ann may earn again that day.
    expect((await stub.refund({ opId: "ref-a1", itemId: "a1", actor: "t" })).ok).toBe(true);
    expect(statuses(await claim([item("a5", "ann")]))).toEqual(["committed"]);
    expect((await stub.checkIntegrity()).problems).toEqual([]);
  });

  it("commits from the first hold with room, stops at the pause threshold, then reports the budget spent", async () => {
    const { stub, holdIds } = await campaignPool([250, 1_000]);
    const claim = (items: ReturnType<typeof item>[], stopAt?: number) =>
      stub.claimCampaignRewards({ campaignId: "cmp_x", holdIds, actor: "t", caps: {}, stopAt, items });
    const r = await claim([item("x1", "a"), item("x2", "b"), item("x3", "c"), item("x4", "d")], 300);
    expect(statuses(r)).toEqual(["committed", "committed", "committed", "threshold_reached"]);
    expect(r.ok && r.items.map((i: any) => i.holdId)).toEqual([holdIds[0], holdIds[0], holdIds[1], undefined]);
    const big = await claim([item("y1", "e", 950)]);
    expect(statuses(big)).toEqual(["insufficient_funds"]);
    expect(statuses(await claim([item("y2", "e", 800)]))).toEqual(["committed"]);
    const b = (await stub.getBalance()) as { balance: Record<string, number> };
    expect(b.balance).toMatchObject({ committed: 1_100, reserved: 150 });
    expect((await stub.checkIntegrity()).problems).toEqual([]);
  });

  it("never passes a cap or the budget when 20 claims race", async () => {
    const { stub, holdIds } = await campaignPool([5_000]);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        stub.claimCampaignRewards({
          campaignId: "cmp_x",
          holdIds,
          actor: "t",
          caps: { perCustomer: { amount: 1_000 } },
          items: [item(`r${i}-1`, "ann", 300), item(`r${i}-2`, `c${i}`, 300)],
        }),
      ),
    );
    const all = results.flatMap((r) => statuses(r));
    // Ann: 3 × 300 ≤ 1,000; the budget: 5,000 / 300 = 16 rewards in all.
    const ann = results.map((r) => statuses(r)[0]).filter((s) => s === "committed");
    expect(ann).toHaveLength(3);
    expect(all.filter((s) => s === "committed")).toHaveLength(16);
    expect((await stub.checkIntegrity()).problems).toEqual([]);
  });
});
