import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import type { Env } from "../src/env";
import { turns } from "../src/delivery/deliver";
import { DELIVERIES_PER_RUN, runsOf as deliverRuns } from "../src/queues/deliveries.consumer";
import { CAMPAIGN_DELIVERIES_PER_MESSAGE, QueueMessage, QUEUES, type ReconcileMessage } from "../src/queues/messages";
import { scheduleReconciliations } from "../src/reconciliation/schedule";
import { uniqueOrg } from "./helpers/api";
import { createPool } from "./helpers/factories";

let seq = 0;
async function consume(queue: string, bodies: unknown[], e: Env = env) {
  const batch = createMessageBatch(
    queue,
    bodies.map((body) => ({ id: `q${seq++}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch as MessageBatch<unknown>, e, ctx);
  return getQueueResult(batch, ctx);
}

function recordingQueue() {
  const sent: unknown[] = [];
  const queue = {
    async sendBatch(msgs: { body: unknown }[]) {
      for (const m of msgs) sent.push(m.body);
    },
  } as unknown as Queue;
  return { sent, queue };
}

const runsOf = (org: string) =>
  env.DB.prepare("SELECT trigger, status FROM reconciliation_runs WHERE org = ?")
    .bind(org)
    .all<{ trigger: string; status: string }>()
    .then((r) => r.results);

describe("queues", () => {
  it("runs an org's reconciliation from a message on the reconciliations queue", async () => {
    const org = uniqueOrg("rq");
    const result = await consume(QUEUES.reconciliations, [{ type: "reconcile", org } satisfies ReconcileMessage]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(await runsOf(org)).toEqual([{ trigger: "cron", status: "completed" }]);
  });

  it("sends the hourly cron's reconcile messages to the reconciliations queue, not the deliveries queue", async () => {
    const org = uniqueOrg("rq");
    await createPool(org);
    const reconcile = recordingQueue();
    const deliveries = recordingQueue();
    await scheduleReconciliations({ ...env, RECONCILE_QUEUE: reconcile.queue, DELIVERY_QUEUE: deliveries.queue } as Env);
    expect(reconcile.sent).toContainEqual({ type: "reconcile", org });
    expect(deliveries.sent).toEqual([]);
  });

  it("passes a reconcile message left on the deliveries queue on to the reconciliations queue", async () => {
    const org = uniqueOrg("rq");
    const reconcile = recordingQueue();
    const result = await consume(QUEUES.deliveries, [{ type: "reconcile", org, runId: "rec_x" }], { ...env, RECONCILE_QUEUE: reconcile.queue } as Env);
    expect(result.explicitAcks).toHaveLength(1);
    expect(reconcile.sent).toEqual([{ type: "reconcile", org, runId: "rec_x" }]);
    expect(await runsOf(org)).toEqual([]);
  });

  it("acks an unreadable message without doing anything", async () => {
    for (const queue of Object.values(QUEUES)) {
      const result = await consume(queue, [{ type: "nonsense" }]);
      expect(result.explicitAcks).toHaveLength(1);
      expect(result.retryMessages).toEqual([]);
    }
  });
});

describe("a campaign's deliver messages", () => {
  const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => `dlv_${from + i}`);
  const message = (deliveryIds: string[]) => ({ body: { type: "deliver", org: "o", campaignId: "cmp_1", deliveryIds } }) as unknown as Message<unknown>;

  it("carry up to CAMPAIGN_DELIVERIES_PER_MESSAGE ids, and no more", () => {
    expect(QueueMessage.safeParse({ type: "deliver", org: "o", campaignId: "c", deliveryIds: ids(0, CAMPAIGN_DELIVERIES_PER_MESSAGE) }).success).toBe(true);
    expect(QueueMessage.safeParse({ type: "deliver", org: "o", campaignId: "c", deliveryIds: ids(0, CAMPAIGN_DELIVERIES_PER_MESSAGE + 1) }).success).toBe(
      false,
    );
  });

  it("are run at most DELIVERIES_PER_RUN at once, split at message boundaries, none left out", () => {
    const msgs = [...Array.from({ length: 12 }, (_, i) => message(ids(i * 100, 100))), message(ids(5000, 40)), message(ids(6000, 1))];
    const runs = deliverRuns(msgs);
    expect(runs.map((r) => r.length)).toEqual([10, 4]);
    for (const r of runs) expect(r.flatMap((m) => (m.body as { deliveryIds: string[] }).deliveryIds).length).toBeLessThanOrEqual(DELIVERIES_PER_RUN);
    expect(runs.flat()).toEqual(msgs);
  });

  it("record their runs one at a time, in call order, a failed one not stopping the next", async () => {
    const inTurn = turns();
    const log: string[] = [];
    const step = (name: string, ms: number, fail = false) =>
      inTurn(async () => {
        log.push(`${name} start`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`${name} end`);
        if (fail) throw new Error(name);
        return name;
      });
    const results = await Promise.allSettled([step("a", 20, true), step("b", 1), step("c", 5)]);
    expect(log).toEqual(["a start", "a end", "b start", "b end", "c start", "c end"]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "fulfilled", "fulfilled"]);
  });
});
