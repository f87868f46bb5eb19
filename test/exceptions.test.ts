import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { openExceptions } from "../src/exceptions/exceptions.open";
import { runChunk, startRelease } from "../src/delivery/fan-out";
import type { QueueMessage } from "../src/queues/messages";
import type { Env } from "../src/env";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { deliveryCounts, releasedBatch, waitForBatch, onePerDelivery } from "./helpers/delivery-factories";
import { interceptOutbound } from "./helpers/msw";
import { auditActions, deliveredBatch, poolBalance, supportTokens } from "./helpers/support-factories";

const server = interceptOutbound();
const SMS_URL = "https://sms.test/2010-04-01";
const smsEnv = { ...env, ENVIRONMENT: "production", SMS_API_URL: SMS_URL, SMS_ACCOUNT_SID: "AC1", SMS_AUTH_TOKEN: "tok", SMS_FROM: "+15005550006" } as Env;
const smsAnswers = (status: number) =>
  http.post(`${SMS_URL}/Accounts/AC1/Messages.json`, () => HttpResponse.json({ message: `provider says ${status}` }, { status }));

const resolve = (id: string, tok: string, action: string, note = "checked with the recipient") =>
  callJson(`/v1/exceptions/${id}/resolve`, { method: "POST", token: tok, body: { action, note } });

async function waitFor<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Three recipients, one code: one delivery delivered, two held (inventory exhausted); the batch keeps delivering. */
async function heldBatch(org: string) {
  const seeded = await releasedBatch(org, { recipients: 3, codes: 1 });
  await waitFor(
    () => deliveryCounts(seeded.batchId),
    (c) => c.delivered === 1 && c.held === 2,
    "held deliveries",
  );
  const tokens = await supportTokens(org);
  const open = await callJson(`/v1/exceptions?status=open&batch_id=${seeded.batchId}`, { token: tokens.operator });
  return { ...seeded, tokens, exceptions: open.body.data as { id: string; entity_id: string; kind: string }[] };
}

/** An SMS batch fanned out by hand, and a consumer run with the SMS provider answering `status`. */
async function smsBatchAfterProvider(org: string, status: number) {
  const seeded = await releasedBatch(org, { recipients: 1, channel: "sms", enqueue: false });
  const sent: QueueMessage[] = [];
  const fanEnv = {
    ...env,
    DELIVERY_QUEUE: {
      async sendBatch(m: { body: QueueMessage }[]) {
        for (const x of m) sent.push(x.body);
      },
    } as unknown as Queue,
  } as Env;
  await startRelease(fanEnv, { type: "release", org, batchId: seeded.batchId });
  for (const c of sent.filter((m) => m.type === "chunk")) await runChunk(fanEnv, c as Extract<QueueMessage, { type: "chunk" }>);
  const deliver = onePerDelivery(sent.filter((m) => m.type === "deliver"));
  server.use(smsAnswers(status));
  const consume = async (queue: string, attempts: number) => {
    const batch = createMessageBatch(
      queue,
      deliver.map((body, i) => ({ id: `sms-${i}-${Math.random()}`, timestamp: new Date(), attempts, body })),
    );
    const ctx = createExecutionContext();
    await worker.queue(batch as MessageBatch<unknown>, smsEnv, ctx);
    return getQueueResult(batch, ctx);
  };
  await consume("rewardrail-deliveries", 1);
  const deliveryId = (deliver[0] as { deliveryId: string }).deliveryId;
  return { ...seeded, deliveryId, consume, tokens: await supportTokens(org) };
}

describe("the exception queue", () => {
  it("lists an org's open exceptions by status, kind and batch, for operator, finance and support", async () => {
    const org = uniqueOrg("excl");
    const { batchId, exceptions, tokens } = await heldBatch(org);
    expect(exceptions.map((e) => e.kind)).toEqual(["delivery_held", "delivery_held"]);
    const support = await callJson("/v1/exceptions?status=open&kind=delivery_held", { token: tokens.support });
    expect(support.body.data.map((e: { id: string }) => e.id).sort()).toEqual(exceptions.map((e) => e.id).sort());
    expect(support.body.data[0]).toMatchObject({
      status: "open",
      batch_id: batchId,
      entity_type: "delivery",
      resolution: null,
      data: { reason: "inventory_exhausted" },
    });
    expect((await callJson("/v1/exceptions?kind=delivery_failed", { token: tokens.finance })).body.data).toEqual([]);
    expect((await callJson("/v1/exceptions?status=resolved", { token: tokens.finance })).body.data).toEqual([]);
    expect((await callJson("/v1/exceptions", { token: tokens.auditor })).status).toBe(200); // the auditor reads everything
    expect((await resolve(exceptions[0]!.id, tokens.auditor, "accept")).status).toBe(403);
    const other = await token({ org: uniqueOrg("excl-other"), roles: ["operator"] });
    expect((await callJson(`/v1/exceptions?batch_id=${batchId}`, { token: other })).body.data).toEqual([]);
    expect((await resolve(exceptions[0]!.id, other, "accept")).status).toBe(404);
    expect((await resolve(exceptions[0]!.id, tokens.support, "accept")).status).toBe(403);
  });

  it("retries held deliveries once codes arrive: they end delivered and the batch completes", async () => {
    const org = uniqueOrg("excretry");
    const { batchId, exceptions, tokens, productId, stub, validTotal } = await heldBatch(org);
    const up = await callJson(`/v1/products/${productId}/codes`, {
      token: tokens.admin,
      body: { codes: [1, 2].map((i) => ({ code: `MORE-${org}-${i}`, amount: 2500 })) },
    });
    expect([200, 201]).toContain(up.status);
    for (const e of exceptions) {
      const res = await resolve(e.id, tokens.operator, "retry", "restocked");
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: "resolved", resolution: "retry", note: "restocked", resolved_by: "otto", resolved_at: expect.any(String) });
    }
    expect(await waitForBatch(batchId, ["completed", "completed_with_errors"])).toBe("completed");
    expect(await deliveryCounts(batchId)).toEqual({ delivered: 3 });
    const b = (await stub.getBalance()) as { balance: Record<string, number> };
    expect(b.balance).toMatchObject({ committed: validTotal, reserved: 0 });
    expect((await stub.checkIntegrity()).problems).toEqual([]);
    const twice = await resolve(exceptions[0]!.id, tokens.finance, "retry");
    expect(twice.status).toBe(409);
    expect(twice.body).toMatchObject({ code: "already_resolved", resolution: "retry" });
    expect(await auditActions(org, exceptions[0]!.id)).toEqual(["exception.resolved"]);
    expect(await auditActions(org, exceptions[0]!.entity_id)).toEqual(
      expect.arrayContaining(["delivery.held", "delivery.retry_requested", "delivery.delivered"]),
    );
  });

  it("retries a delivery the SMS provider refused (held for policy) and it ends delivered once the provider works", async () => {
    const org = uniqueOrg("excpolicy");
    const { batchId, deliveryId, tokens } = await smsBatchAfterProvider(org, 403);
    const held = await callJson(`/v1/exceptions?status=open&batch_id=${batchId}`, { token: tokens.operator });
    expect(held.body.data).toEqual([expect.objectContaining({ kind: "delivery_held", entity_id: deliveryId })]);
    // The Worker's own environment has a working (dev outbox) SMS channel.
    expect((await resolve(held.body.data[0].id, tokens.operator, "retry")).status).toBe(200);
    expect(await waitForBatch(batchId, ["completed", "completed_with_errors"])).toBe("completed");
    const detail = await callJson(`/v1/deliveries/${deliveryId}`, { token: tokens.support });
    expect(detail.body.status).toBe("delivered");
    expect(detail.body.attempts.map((a: { outcome: string; error_class: string | null }) => [a.outcome, a.error_class])).toEqual([
      ["failed", "policy"],
      ["sent", null],
    ]);
  });

  it("retries a dead-lettered delivery after its batch ended through a retry hold, paying once", async () => {
    const org = uniqueOrg("excdlq");
    const { batchId, deliveryId, tokens, consume, poolId, stub, amount } = await smsBatchAfterProvider(org, 500);
    await consume("rewardrail-deliveries-dlq", 9);
    expect(await waitForBatch(batchId, ["completed", "completed_with_errors"])).toBe("completed_with_errors");
    const before = await poolBalance(poolId);
    expect(before).toMatchObject({ committed: 0, reserved: 0 });
    const exc = await callJson(`/v1/exceptions?status=open&kind=delivery_dead_lettered&batch_id=${batchId}`, { token: tokens.finance });
    expect(exc.body.data).toHaveLength(1);

    // A pool that cannot cover the retry refuses it; once funded again the retry goes through.
    expect((await stub.withdraw({ opId: "drain", amount: before.available!, actor: "test" })).ok).toBe(true);
    const refused = await resolve(exc.body.data[0].id, tokens.finance, "retry", "provider is back");
    expect([refused.status, refused.body.code]).toEqual([409, "insufficient_funds"]);
    expect((await stub.fund({ opId: "refill", amount: before.available!, actor: "test" })).ok).toBe(true);

    const res = await resolve(exc.body.data[0].id, tokens.finance, "retry", "provider is back");
    expect(res.status).toBe(200);
    expect(res.body.resolution).toBe("retry");
    const detail = await callJson(`/v1/deliveries/${deliveryId}`, { token: tokens.support });
    expect(detail.body.status).toBe("delivered");
    expect(detail.body.attempts.at(-1)).toMatchObject({ kind: "send", outcome: "sent", actor: "fran" });
    expect(await poolBalance(poolId)).toMatchObject({ committed: amount, reserved: 0, available: before.available! - amount });
    expect((await stub.checkIntegrity()).problems).toEqual([]);
    const sms = await env.DB.prepare("SELECT COUNT(*) AS n FROM dev_outbox WHERE org = ? AND channel = 'sms'").bind(org).first<{ n: number }>();
    expect(sms?.n).toBe(1);
    expect((await resolve(exc.body.data[0].id, tokens.finance, "retry")).status).toBe(409);
    expect((await poolBalance(poolId)).committed).toBe(amount);
  });
});

describe("cancel and accept", () => {
  it("cancels held deliveries: they fail for good and the batch completes with its hold released", async () => {
    const org = uniqueOrg("exccancel");
    const { batchId, exceptions, tokens, stub, amount } = await heldBatch(org);
    for (const e of exceptions) expect((await resolve(e.id, tokens.finance, "cancel", "no more stock this quarter")).status).toBe(200);
    expect(await waitForBatch(batchId, ["completed", "completed_with_errors"])).toBe("completed_with_errors");
    expect(await deliveryCounts(batchId)).toEqual({ delivered: 1, failed: 2 });
    const b = (await stub.getBalance()) as { balance: Record<string, number> };
    expect(b.balance).toMatchObject({ committed: amount, reserved: 0 });
    expect(await auditActions(org, exceptions[0]!.entity_id)).toContain("delivery.cancelled");
  });

  it("cancels a failed delivery whose value is committed: refunded, and its never-sent code back in the inventory", async () => {
    const org = uniqueOrg("excrefund");
    const { ids, tokens, poolId, amount, batchId } = await deliveredBatch(org, { recipients: 1 });
    const id = ids[0]!;
    const code = await env.DB.prepare("SELECT code_id FROM deliveries WHERE id = ?").bind(id).first<{ code_id: string }>();
    await env.DB.batch([
      env.DB.prepare("UPDATE deliveries SET status = 'failed', status_reason = 'data: bounced' WHERE id = ?").bind(id),
      env.DB.prepare("UPDATE delivery_attempts SET outcome = 'failed' WHERE delivery_id = ?").bind(id),
      openExceptions(env.DB, [{ org, kind: "delivery_failed", severity: "medium", entityType: "delivery", entityId: id, batchId, detail: "bounced" }])!,
    ]);
    const before = await poolBalance(poolId);
    const exc = (await callJson(`/v1/exceptions?status=open&batch_id=${batchId}`, { token: tokens.operator })).body.data[0];
    expect((await resolve(exc.id, tokens.operator, "cancel")).status).toBe(200);
    expect(await poolBalance(poolId)).toMatchObject({ committed: before.committed! - amount, available: before.available! + amount });
    const row = await env.DB.prepare("SELECT status, delivery_id FROM inventory_codes WHERE id = ?").bind(code!.code_id).first();
    expect(row).toEqual({ status: "available", delivery_id: null });
    expect((await callJson(`/v1/deliveries/${id}`, { token: tokens.support })).body).toMatchObject({ status: "failed", masked_code: expect.any(String) });
  });

  it("refuses to accept a held delivery, and accepts other exceptions as is, once", async () => {
    const org = uniqueOrg("excaccept");
    const { exceptions, tokens, batchId } = await heldBatch(org);
    // A held delivery keeps its value in the hold and its batch open: it needs retry or cancel.
    const refused = await resolve(exceptions[0]!.id, tokens.finance, "accept", "known issue");
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("invalid_state_transition");
    expect((await callJson(`/v1/deliveries/${exceptions[0]!.entity_id}`, { token: tokens.support })).body.status).toBe("held");
    await openExceptions(env.DB, [
      { org, kind: "fan_out_failed", severity: "high", entityType: "batch", entityId: batchId, batchId, detail: "x", data: { type: "bogus" } },
    ])!.run();
    const fan = (await callJson("/v1/exceptions?kind=fan_out_failed", { token: tokens.operator })).body.data[0];
    expect((await resolve(fan.id, tokens.operator, "cancel")).status).toBe(409);
    expect((await resolve(fan.id, tokens.operator, "retry")).status).toBe(409);
    const accepted = await resolve(fan.id, tokens.finance, "accept", "known issue");
    expect(accepted.status).toBe(200);
    expect(accepted.body).toMatchObject({ resolution: "accept", resolved_by: "fran", note: "known issue" });
    expect((await resolve(fan.id, tokens.operator, "accept")).body.code).toBe("already_resolved");
  });
});
