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
