import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { delay, http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { runChunk, startRelease } from "../src/delivery/fan-out";
import type { QueueMessage } from "../src/queues/messages";
import type { Env } from "../src/env";
import { uniqueOrg } from "./helpers/api";
import { releasedBatch, onePerDelivery } from "./helpers/delivery-factories";
import { interceptOutbound } from "./helpers/msw";

const server = interceptOutbound();
// With a provider key the real Resend client runs; MSW answers at the fetch boundary.
const providerEnv = { ...env, RESEND_API_KEY: "re_test", ENVIRONMENT: "production", EMAIL_TIMEOUT_MS: "300" } as Env;

async function deliveringBatch(recipients = 2) {
  const org = uniqueOrg("prov");
  const seeded = await releasedBatch(org, { recipients, enqueue: false });
  const sent: QueueMessage[] = [];
  const queue = {
    async sendBatch(msgs: { body: QueueMessage }[]) {
      for (const m of msgs) sent.push(m.body);
    },
  } as unknown as Queue;
  const fanEnv = { ...env, DELIVERY_QUEUE: queue } as Env;
  await startRelease(fanEnv, { type: "release", org, batchId: seeded.batchId });
  for (const c of sent.filter((m) => m.type === "chunk")) await runChunk(fanEnv, c as Extract<QueueMessage, { type: "chunk" }>);
  return { ...seeded, org, deliver: onePerDelivery(sent.filter((m) => m.type === "deliver")) };
}

let seq = 0;
/** Runs the Worker's queue handler; `delays` records each retry's delaySeconds (getQueueResult does not keep them). */
async function consume(queue: string, messages: QueueMessage[], e: Env = providerEnv, attempts = 1) {
  const batch = createMessageBatch<QueueMessage>(
    queue,
    messages.map((body) => ({ id: `p${seq++}`, timestamp: new Date(), attempts, body })),
  );
  const delays: (number | undefined)[] = [];
  for (const msg of batch.messages) {
    const retry = msg.retry.bind(msg);
    msg.retry = (opts?: QueueRetryOptions) => {
      delays.push(opts?.delaySeconds);
      retry(opts);
    };
  }
  const ctx = createExecutionContext();
  await worker.queue(batch as MessageBatch<unknown>, e, ctx);
  return { ...(await getQueueResult(batch, ctx)), delays };
}
const deliveries = (batchId: string) =>
  env.DB.prepare("SELECT id, status, status_reason, committed, code_id FROM deliveries WHERE batch_id = ? ORDER BY id")
    .bind(batchId)
    .all<Record<string, unknown>>()
    .then((r) => r.results);

function batchOk() {
  return http.post("https://api.resend.com/emails/batch", async ({ request }) => {
    const body = (await request.json()) as unknown[];
    return HttpResponse.json({ data: body.map((_, i) => ({ id: `em_${i}` })) });
  });
}

describe("provider faults", () => {
  it("retries after 500s with backoff and delivers once the provider recovers", async () => {
    const { batchId, deliver, stub, validTotal } = await deliveringBatch();
    server.use(
      http.post("https://api.resend.com/emails/batch", () =>
        HttpResponse.json({ name: "application_error", message: "down", statusCode: 500 }, { status: 500 }),
      ),
    );
    const first = await consume("rewardrail-deliveries", deliver);
    expect(first.retryMessages).toHaveLength(2);
    expect(first.delays).toEqual([5, 5]);
    expect((await deliveries(batchId)).map((d) => d.status)).toEqual(["queued", "queued"]);

    server.use(batchOk());
    const second = await consume("rewardrail-deliveries", deliver, providerEnv, 2);
    expect(second.explicitAcks).toHaveLength(2);
    expect((await deliveries(batchId)).map((d) => d.status)).toEqual(["delivered", "delivered"]);
    const attempts = await env.DB.prepare(
      "SELECT outcome, error_class FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.batch_id = ? ORDER BY a.attempt_no, a.delivery_id",
    )
      .bind(batchId)
      .all();
    expect(attempts.results).toEqual([
      { outcome: "failed", error_class: "transient" },
      { outcome: "failed", error_class: "transient" },
      { outcome: "sent", error_class: null },
      { outcome: "sent", error_class: null },
    ]);
    const b = (await stub.getBalance()) as { balance: Record<string, number> };
    expect(b.balance.committed).toBe(validTotal); // committed once, across both attempts
  });

  it("honours 429 Retry-After", async () => {
    const { deliver } = await deliveringBatch();
    server.use(
      http.post("https://api.resend.com/emails/batch", () =>
        HttpResponse.json({ name: "rate_limit_exceeded", message: "slow down", statusCode: 429 }, { status: 429, headers: { "retry-after": "17" } }),
      ),
    );
    const res = await consume("rewardrail-deliveries", deliver);
    expect(res.retryMessages).toHaveLength(2);
    expect(res.delays).toEqual([17, 17]);
  });

  it("treats a timeout as transient", async () => {
    const { deliver } = await deliveringBatch();
    server.use(
      http.post("https://api.resend.com/emails/batch", async () => {
        await delay(2_000);
        return HttpResponse.json({ data: [] });
      }),
    );
    const res = await consume("rewardrail-deliveries", deliver);
    expect(res.retryMessages).toHaveLength(2);
  });

  it("fails a permanent 422 at once: no retry, value back to the hold, code freed, exception opened", async () => {
    const { batchId, deliver, stub, org, validTotal } = await deliveringBatch();
    // The whole call refused as bad data: each email is tried alone, and each is refused too.
    const refuse = () => HttpResponse.json({ name: "validation_error", message: "bad address", statusCode: 422 }, { status: 422 });
    server.use(http.post("https://api.resend.com/emails/batch", refuse), http.post("https://api.resend.com/emails", refuse));
    const res = await consume("rewardrail-deliveries", deliver);
    expect(res.retryMessages).toEqual([]);
    expect(res.explicitAcks).toHaveLength(2);
    const rows = await deliveries(batchId);
    expect(rows.map((d) => [d.status, d.committed, d.code_id])).toEqual([
      ["failed", 0, null],
      ["failed", 0, null],
    ]);
    const b = (await stub.getBalance()) as { balance: Record<string, number> };
    expect(b.balance).toMatchObject({ committed: 0, reserved: 0 }); // the batch ended: the hold's rest went back
    expect(b.balance.available).toBe(b.balance.funded);
    const codes = await env.DB.prepare("SELECT COUNT(*) AS n FROM inventory_codes WHERE org = ? AND status = 'available'").bind(org).first<{ n: number }>();
    expect(codes?.n).toBe(2);
    const batch = await env.DB.prepare("SELECT status FROM batches WHERE id = ?").bind(batchId).first<{ status: string }>();
    expect(batch?.status).toBe("completed_with_errors");
    const exc = await env.DB.prepare("SELECT kind FROM exceptions WHERE batch_id = ?").bind(batchId).all();
    expect(exc.results).toEqual([{ kind: "delivery_failed" }, { kind: "delivery_failed" }]);
    expect(validTotal).toBeGreaterThan(0);
  });

  it("fails only the delivery whose address the provider refuses; the others of the same call are delivered", async () => {
    const { batchId, deliver } = await deliveringBatch(3);
    server.use(
      http.post("https://api.resend.com/emails/batch", async ({ request }) => {
        const body = (await request.json()) as { to: string[] }[];
        const bad = body.findIndex((e) => e.to[0] === body[1]!.to[0]);
        return HttpResponse.json({
          data: body.filter((_, i) => i !== bad).map((_, i) => ({ id: `em_${i}` })),
          errors: [{ index: bad, message: "The email address is on the suppression list" }],
        });
      }),
    );
    const res = await consume("rewardrail-deliveries", deliver);
    expect(res.retryMessages).toEqual([]);
    const rows = await deliveries(batchId);
    expect(rows.map((d) => d.status).sort()).toEqual(["delivered", "delivered", "failed"]);
    expect(rows.find((d) => d.status === "failed")!.status_reason).toContain("suppression list");
    const exc = await env.DB.prepare("SELECT kind FROM exceptions WHERE batch_id = ?").bind(batchId).all();
    expect(exc.results).toEqual([{ kind: "delivery_failed" }]);
  });

  it("turns exhausted retries into failed deliveries and exceptions via the dead-letter queue", async () => {
    const { batchId, deliver, stub } = await deliveringBatch();
    server.use(
      http.post("https://api.resend.com/emails/batch", () =>
        HttpResponse.json({ name: "application_error", message: "down", statusCode: 503 }, { status: 503 }),
      ),
    );
    await consume("rewardrail-deliveries", deliver);
    const dlq = await consume("rewardrail-deliveries-dlq", deliver, providerEnv, 9);
    expect(dlq.explicitAcks).toHaveLength(2);
    const rows = await deliveries(batchId);
    expect(rows.map((d) => [d.status, d.committed])).toEqual([
      ["failed", 0],
      ["failed", 0],
    ]);
    // Support reads why the retries ran out: the last provider error, not only "retries exhausted".
    expect(rows.every((d) => /^retries exhausted; last error \(transient\): application_error: down/.test(String(d.status_reason)))).toBe(true);
    const exc = await env.DB.prepare("SELECT kind, severity, status, detail FROM exceptions WHERE batch_id = ?").bind(batchId).all();
    expect(exc.results).toEqual([
      { kind: "delivery_dead_lettered", severity: "high", status: "open", detail: expect.stringContaining("last error (transient): application_error: down") },
      { kind: "delivery_dead_lettered", severity: "high", status: "open", detail: expect.stringContaining("last error (transient): application_error: down") },
    ]);
    expect((await stub.checkIntegrity()).problems).toEqual([]);
    const b = (await stub.getBalance()) as { balance: Record<string, number> };
    expect(b.balance.committed).toBe(0);
  });
});
