import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { uniqueOrg } from "./helpers/api";
import { deliveryCounts, releasedBatch, waitForBatch } from "./helpers/delivery-factories";

describe("delivery end to end on the local queue", () => {
  it("delivers every recipient of a released batch once and completes it", async () => {
    const org = uniqueOrg();
    const { batchId, stub, validTotal, n } = await releasedBatch(org, { recipients: 25 });
    expect(await waitForBatch(batchId, ["completed", "completed_with_errors"])).toBe("completed");
    expect(await deliveryCounts(batchId)).toEqual({ delivered: n });
    const b = (await stub.getBalance()) as { balance: Record<string, number> };
    expect(b.balance.committed).toBe(validTotal);
    expect(b.balance.reserved).toBe(0);
    const codes = await env.DB.prepare("SELECT COUNT(DISTINCT code_id) AS codes, COUNT(*) AS n FROM deliveries WHERE batch_id = ?").bind(batchId).first();
    expect(codes).toEqual({ codes: n, n });
    const outbox = await env.DB.prepare("SELECT COUNT(*) AS n FROM dev_outbox WHERE org = ? AND channel = 'email'").bind(org).first<{ n: number }>();
    expect(outbox?.n).toBe(n);
  });
});

describe("a batch of 1,000", () => {
  it("delivers every recipient, commits exactly the delivered sum, releases the hold's rest and audits each outcome in its run's settlement event", async () => {
    const org = uniqueOrg("k");
    const { batchId, stub, n, amount } = await releasedBatch(org, { recipients: 1_000, fund: 10_000_000 });
    expect(await waitForBatch(batchId, ["completed", "completed_with_errors"], 60_000)).toBe("completed");
    expect(await deliveryCounts(batchId)).toEqual({ delivered: n });
    const b = (await stub.getBalance()) as { balance: Record<string, number> };
    expect(b.balance).toMatchObject({ committed: n * amount, reserved: 0, available: 10_000_000 - n * amount });
    expect((await stub.checkIntegrity()).problems).toEqual([]);
    const hold = await stub.getHold(`hold_${batchId}`);
    expect(hold).toMatchObject({ state: "posted", remaining: 0, committed: n * amount });
    // One settlement event per consumer run, naming each delivery it settled once in all.
    const audit = await env.DB.prepare("SELECT action, after FROM audit_events WHERE org = ? AND action LIKE 'delivery.%'")
      .bind(org)
      .all<{ action: string; after: string }>();
    expect(new Set(audit.results.map((e) => e.action))).toEqual(new Set(["delivery.settled"]));
    expect(audit.results.length).toBeLessThanOrEqual(n / 10);
    const settled = audit.results.flatMap((e) => (JSON.parse(e.after) as { deliveries: [string, string, number][] }).deliveries);
    expect(settled).toHaveLength(n);
    expect(new Set(settled.map(([id]) => id)).size).toBe(n);
    expect(settled.every(([, status, attemptNo]) => status === "delivered" && attemptNo === 1)).toBe(true);
    const batchEvents = await env.DB.prepare("SELECT action FROM audit_events WHERE org = ? AND entity_id = ? ORDER BY seq")
      .bind(org, batchId)
      .all<{ action: string }>();
    expect(batchEvents.results.map((e) => e.action)).toEqual(expect.arrayContaining(["batch.delivery_started", "batch.completed"]));
  }, 120_000);
});
