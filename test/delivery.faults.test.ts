import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { runChunk, startRelease } from "../src/delivery/fan-out";
import type { QueueMessage } from "../src/queues/messages";
import type { Env } from "../src/env";
import { uniqueOrg } from "./helpers/api";
import { releasedBatch, onePerDelivery } from "./helpers/delivery-factories";

/** Captures what the fan-out would enqueue, so each test hands the consumer exactly the messages it wants. */
function recordingQueue() {
  const sent: QueueMessage[] = [];
  const queue = {
    async send(body: QueueMessage) {
      sent.push(body);
    },
    async sendBatch(msgs: { body: QueueMessage }[]) {
      for (const m of msgs) sent.push(m.body);
    },
  } as unknown as Queue;
  return { sent, queue };
}

/** A batch in `delivering` with its delivery rows created, and the deliver messages the fan-out produced. */
async function deliveringBatch(opts: Parameters<typeof releasedBatch>[1] = {}) {
  const org = uniqueOrg("fault");
  const seeded = await releasedBatch(org, { recipients: 3, enqueue: false, ...opts });
  const { sent, queue } = recordingQueue();
  const fanEnv = { ...env, DELIVERY_QUEUE: queue } as Env;
  await startRelease(fanEnv, { type: "release", org, batchId: seeded.batchId });
  for (const chunk of sent.filter((m) => m.type === "chunk")) await runChunk(fanEnv, chunk as Extract<QueueMessage, { type: "chunk" }>);
  const deliver = onePerDelivery(sent.filter((m) => m.type === "deliver"));
  return { ...seeded, org, deliver, sent };
}

let seq = 0;
async function consume(messages: QueueMessage[], failpoints?: string) {
  const batch = createMessageBatch<QueueMessage>(
    "rewardrail-deliveries",
    messages.map((body) => ({ id: `m${seq++}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch as MessageBatch<unknown>, { ...env, FAILPOINTS: failpoints } as Env, ctx);
  return getQueueResult(batch, ctx);
}

async function facts(batchId: string, org: string, stub: DurableObjectStub<import("../durable-objects/funding-pool").FundingPool>) {
  const deliveries = await env.DB.prepare("SELECT status, COUNT(*) AS n, COUNT(DISTINCT code_id) AS codes FROM deliveries WHERE batch_id = ? GROUP BY status")
    .bind(batchId)
    .all();
  const assigned = await env.DB.prepare("SELECT COUNT(*) AS n FROM inventory_codes WHERE org = ? AND status = 'assigned'").bind(org).first<{ n: number }>();
  const emails = await env.DB.prepare("SELECT COUNT(*) AS n FROM dev_outbox WHERE org = ? AND channel = 'email'").bind(org).first<{ n: number }>();
  const sentAttempts = await env.DB.prepare(
    "SELECT COUNT(*) AS n FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.batch_id = ? AND a.outcome = 'sent'",
  )
    .bind(batchId)
    .first<{ n: number }>();
  const b = (await stub.getBalance()) as { balance: Record<string, number> };
  const integrity = await stub.checkIntegrity();
  return {
    deliveries: deliveries.results,
    assigned: assigned!.n,
    emails: emails!.n,
    sentAttempts: sentAttempts!.n,
    committed: b.balance.committed,
    integrity: integrity.problems,
  };
}

describe("delivery survives a crash at every step", () => {
  it.each(["after_claim", "after_reward", "after_commit", "after_send", "before_ack"])(
    "a crash %s and the redelivery end with one reward, one commit, one send per delivery",
    async (point) => {
      const { batchId, org, stub, deliver, validTotal, n } = await deliveringBatch();
      expect(deliver).toHaveLength(n);

      const crashed = await consume(deliver, point);
      expect(crashed.explicitAcks).toEqual([]);
      expect(crashed.retryMessages).toHaveLength(n);

      // The retry comes after the claim lease would have run out.
      await env.DB.prepare("UPDATE deliveries SET claimed_until = '2000-01-01T00:00:00.000Z' WHERE batch_id = ? AND claimed_until IS NOT NULL")
        .bind(batchId)
        .run();
      const redelivered = await consume(deliver);
      expect(redelivered.explicitAcks).toHaveLength(n);
      // Duplicates after the fact change nothing either.
      const duplicate = await consume([...deliver, deliver[0]!]);
      expect(duplicate.retryMessages).toEqual([]);

      const f = await facts(batchId, org, stub);
      expect(f.deliveries).toEqual([{ status: "delivered", n, codes: n }]);
      expect(f.assigned).toBe(n);
      expect(f.emails).toBe(n);
      expect(f.committed).toBe(validTotal);
      expect(f.integrity).toEqual([]);
      const batch = await env.DB.prepare("SELECT status FROM batches WHERE id = ?").bind(batchId).first<{ status: string }>();
      expect(batch?.status).toBe("completed");
    },
  );

  it("carries ids only in queue messages, never codes or personal data", async () => {
    const { sent } = await deliveringBatch();
    // One chunk per 1,000 recipients: three recipients make one chunk, not three.
    expect(sent.filter((m) => m.type === "chunk")).toHaveLength(1);
    for (const body of sent) {
      expect(Object.keys(body).sort()).toEqual(
        body.type === "deliver" ? ["batchId", "deliveryIds", "org", "type"] : ["batchId", "fromRow", "org", "toRow", "type"],
      );
      expect(JSON.stringify(body)).not.toMatch(/@|GIFT-/);
    }
  });

  it("holds deliveries with a clear reason when the inventory runs out, without double assignment", async () => {
    const { batchId, org, stub, deliver, amount } = await deliveringBatch({ recipients: 5, codes: 3 });
    await consume(deliver.slice(0, 2));
    await consume(deliver.slice(2));
    const rows = await env.DB.prepare("SELECT status, status_reason, code_id FROM deliveries WHERE batch_id = ? ORDER BY id")
      .bind(batchId)
      .all<{ status: string; status_reason: string | null; code_id: string | null }>();
    const delivered = rows.results.filter((r) => r.status === "delivered");
    const held = rows.results.filter((r) => r.status === "held");
    expect(delivered).toHaveLength(3);
    expect(held).toHaveLength(2);
    expect(held.every((r) => r.status_reason === "inventory_exhausted" && r.code_id === null)).toBe(true);
    expect(new Set(delivered.map((r) => r.code_id)).size).toBe(3);
    const f = await facts(batchId, org, stub);
    expect(f.committed).toBe(3 * amount);
    const b = (await stub.getBalance()) as { balance: Record<string, number> };
    expect(b.balance.reserved).toBe(2 * amount); // the held value stays in the hold until resolved
    const exceptions = await env.DB.prepare("SELECT kind, status FROM exceptions WHERE org = ? AND batch_id = ?").bind(org, batchId).all();
    expect(exceptions.results).toEqual([
      { kind: "delivery_held", status: "open" },
      { kind: "delivery_held", status: "open" },
    ]);
  });

  it("issues stored-value cards once, with high-entropy codes", async () => {
    const { batchId, org, stub, deliver, validTotal, n } = await deliveringBatch({ kind: "stored_value" });
    await consume(deliver, "after_send");
    await env.DB.prepare("UPDATE deliveries SET claimed_until = '2000-01-01T00:00:00.000Z' WHERE batch_id = ?").bind(batchId).run();
    await consume(deliver);
    const cards = await env.DB.prepare("SELECT COUNT(*) AS n, COUNT(DISTINCT code_hmac) AS distinct_codes, SUM(balance) AS total FROM cards WHERE org = ?")
      .bind(org)
      .first();
    expect(cards).toEqual({ n, distinct_codes: n, total: validTotal });
    const f = await facts(batchId, org, stub);
    expect(f.emails).toBe(n);
    expect(f.committed).toBe(validTotal);
    const email = await env.DB.prepare("SELECT text FROM dev_outbox WHERE org = ? LIMIT 1").bind(org).first<{ text: string }>();
    expect(email?.text).toMatch(/Your code: [0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){4}/);
  });
});

describe("the stuck-delivery sweep", () => {
  it("re-enqueues deliveries whose message was lost, and the redelivery completes the batch", async () => {
    const { sweepStuckDeliveries } = await import("../src/delivery/sweep");
    const { batchId, deliver, n } = await deliveringBatch();
    // The deliver messages were never consumed: as if the queue had lost them.
    const later = new Date(Date.now() + 20 * 60_000);
    const { sent, queue } = recordingQueue();
    // The sweep covers every org; other tests in this file left stuck deliveries too.
    const requeued = await sweepStuckDeliveries({ ...env, DELIVERY_QUEUE: queue } as Env, later);
    expect(requeued).toBe(sent.length);
    const ours = onePerDelivery(sent.filter((m) => m.type === "deliver" && m.batchId === batchId));
    expect(ours).toHaveLength(n);
    expect(ours.map((m) => (m as { deliveryId: string }).deliveryId).sort()).toEqual(deliver.map((m) => (m as { deliveryId: string }).deliveryId).sort());
    // Nothing is stuck right after, and recent deliveries are left alone.
    expect(await sweepStuckDeliveries({ ...env, DELIVERY_QUEUE: queue } as Env, later)).toBe(0);
    await consume(ours);
    const batch = await env.DB.prepare("SELECT status FROM batches WHERE id = ?").bind(batchId).first<{ status: string }>();
    expect(batch?.status).toBe("completed");
  });
});

describe("the stalled-release sweep", () => {
  it("sends a lost release message and lost chunk messages again, and the batch completes with one delivery per recipient", async () => {
    const { sweepStalledReleases } = await import("../src/delivery/sweep");
    const org = uniqueOrg("stalled");
    const { batchId, n } = await releasedBatch(org, { recipients: 3, enqueue: false }); // `releasing`; its message never arrives
    const { sent, queue } = recordingQueue();
    const qEnv = { ...env, DELIVERY_QUEUE: queue } as Env;
    const ours = (type: string) => sent.filter((m) => m.type === type && "batchId" in m && m.batchId === batchId);
    const status = async () => (await env.DB.prepare("SELECT status FROM batches WHERE id = ?").bind(batchId).first<{ status: string }>())!.status;

    // Not before 15 minutes: the release may only be slow.
    await sweepStalledReleases(qEnv, new Date(Date.now() + 5 * 60_000));
    expect(ours("release")).toEqual([]);
    await sweepStalledReleases(qEnv, new Date(Date.now() + 20 * 60_000));
    expect(ours("release")).toEqual([{ type: "release", org, batchId }]);
    // Touched: the next run leaves it alone for another 15 minutes.
    await sweepStalledReleases(qEnv, new Date(Date.now() + 20 * 60_000));
    expect(ours("release")).toHaveLength(1);

    // The release runs, plans its chunk and moves to delivering, but the chunk message is lost.
    await startRelease(qEnv, ours("release")[0] as Extract<QueueMessage, { type: "release" }>);
    expect(await status()).toBe("delivering");
    expect(ours("chunk")).toHaveLength(1);
    await sweepStalledReleases(qEnv, new Date(Date.now() + 40 * 60_000));
    expect(ours("release")).toHaveLength(2);
    await startRelease(qEnv, ours("release")[1] as Extract<QueueMessage, { type: "release" }>);
    expect(ours("chunk")).toHaveLength(2);
    // Both chunk messages turn up in the end: the deliveries are created once.
    for (const chunk of ours("chunk")) await runChunk(qEnv, chunk as Extract<QueueMessage, { type: "chunk" }>);
    const deliver = onePerDelivery(ours("deliver"));
    expect(new Set(deliver.map((m) => (m as { deliveryId: string }).deliveryId)).size).toBe(n);
    await consume(deliver);
    expect(await status()).toBe("completed");
    const rows = await env.DB.prepare(
      "SELECT COUNT(*) AS n, COUNT(DISTINCT recipient_id) AS people FROM deliveries WHERE batch_id = ? AND status = 'delivered'",
    )
      .bind(batchId)
      .first<{ n: number; people: number }>();
    expect(rows).toEqual({ n, people: n });
    // A batch whose chunks are all done is left to the stuck-delivery sweep.
    await sweepStalledReleases(qEnv, new Date(Date.now() + 80 * 60_000));
    expect(ours("release")).toHaveLength(2);
  });
});
