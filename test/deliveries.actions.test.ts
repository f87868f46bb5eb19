import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { runChunk, startRelease } from "../src/delivery/fan-out";
import type { QueueMessage } from "../src/queues/messages";
import type { Env } from "../src/env";
import { opIds } from "../src/pools/op-ids";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { releasedBatch, onePerDelivery } from "./helpers/delivery-factories";
import { auditActions, deliveredBatch, getDelivery, plainCodes, poolBalance } from "./helpers/support-factories";

const reverse = (id: string, tok: string, headers: Record<string, string> = {}) =>
  callJson(`/v1/deliveries/${id}/reverse`, { method: "POST", token: tok, body: { reason: "recipient left the company" }, headers });
const reissue = (id: string, tok: string) =>
  callJson(`/v1/deliveries/${id}/reissue`, { method: "POST", token: tok, body: { reason: "recipient lost the email" } });

describe("reverse", () => {
  it("gives the value back to available exactly once, even when the request is retried", async () => {
    const org = uniqueOrg("rev");
    const { ids, tokens, poolId, amount, productId } = await deliveredBatch(org, { recipients: 2 });
    const before = await poolBalance(poolId);
    const res = await reverse(ids[0]!, tokens.finance, { "idempotency-key": "rev-1" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: ids[0], status: "reversed" });
    const after = await poolBalance(poolId);
    expect(after).toMatchObject({ committed: before.committed! - amount, available: before.available! + amount, reversed: before.reversed! + amount });

    const replay = await reverse(ids[0]!, tokens.finance, { "idempotency-key": "rev-1" });
    expect(replay.status).toBe(200);
    expect(replay.res.headers.get("idempotent-replayed")).toBe("true");
    const again = await reverse(ids[0]!, tokens.finance);
    expect(again.status).toBe(409);
    expect(await poolBalance(poolId)).toEqual(after);

    const code = await env.DB.prepare("SELECT status, voided_at FROM inventory_codes WHERE delivery_id = ? AND product_id = ?")
      .bind(ids[0], productId)
      .first<{ status: string; voided_at: string | null }>();
    expect(code).toMatchObject({ status: "assigned", voided_at: expect.any(String) });
    expect(await auditActions(org, ids[0]!)).toContain("delivery.reversed");
  });

  it("finishes a reversal whose pool step already ran (a crash before the D1 write) without reversing twice", async () => {
    const org = uniqueOrg("revcrash");
    const { ids, poolId, amount, stub } = await deliveredBatch(org, { recipients: 1 });
    const before = await poolBalance(poolId);
    const item = await env.DB.prepare("SELECT item FROM deliveries WHERE id = ?").bind(ids[0]).first<{ item: string }>();
    // The first request reached the pool and died; this retry comes from another finance user.
    const first = await stub.reverse({ opId: opIds.reverseDelivery(ids[0]!), itemId: item!.item, actor: "fran", reference: `reversal of delivery ${ids[0]}` });
    expect(first.ok).toBe(true);
    const res = await reverse(ids[0]!, await token({ org, sub: "fred", roles: ["finance"] }));
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("reversed");
    expect(await poolBalance(poolId)).toMatchObject({ committed: before.committed! - amount, reversed: before.reversed! + amount });
    expect((await stub.checkIntegrity()).problems).toEqual([]);
  });

  it("does not take an earlier, refused reversal by someone else for a done one: the value stays committed and the delivery delivered", async () => {
    const org = uniqueOrg("revrefused");
    const { ids, poolId, stub } = await deliveredBatch(org, { recipients: 1 });
    const before = await poolBalance(poolId);
    const refused = await stub.reverse({
      opId: opIds.reverseDelivery(ids[0]!),
      itemId: "no-such-item",
      actor: "fran",
      reference: `reversal of delivery ${ids[0]}`,
    });
    expect(refused.ok).toBe(false);
    const res = await reverse(ids[0]!, await token({ org, sub: "fred", roles: ["finance"] }));
    expect([res.status, res.body.code]).toEqual([409, "conflict"]);
    const d = await env.DB.prepare("SELECT status, committed FROM deliveries WHERE id = ?").bind(ids[0]).first<{ status: string; committed: number }>();
    expect(d).toEqual({ status: "delivered", committed: 1 });
    expect(await poolBalance(poolId)).toEqual(before);
  });

  it("voids a stored-value card", async () => {
    const org = uniqueOrg("revcard");
    const { ids, tokens } = await deliveredBatch(org, { recipients: 1, kind: "stored_value" });
    const res = await callJson(`/v1/deliveries/${ids[0]}/reverse`, { method: "POST", token: tokens.finance });
    expect(res.status).toBe(200);
    expect(res.body.status_reason).toMatch(/^reversed by [^:]+$/); // no reason given, none shown
    const card = await env.DB.prepare("SELECT status FROM cards WHERE delivery_id = ?").bind(ids[0]).first<{ status: string }>();
    expect(card?.status).toBe("void");
  });

  it("is for finance only", async () => {
    const org = uniqueOrg("revrole");
    const { ids, tokens } = await deliveredBatch(org, { recipients: 1 });
    for (const t of [tokens.support, tokens.operator, tokens.admin, tokens.auditor]) expect((await reverse(ids[0]!, t)).status).toBe(403);
  });
});

describe("reissue", () => {
  it("voids the old reward, links a new delivery with a new code, and leaves the pool untouched", async () => {
    const org = uniqueOrg("reissue");
    const { ids, tokens, poolId, stub, batchId } = await deliveredBatch(org, { recipients: 1, codes: 2 });
    const old = ids[0]!;
    const before = await poolBalance(poolId);
    const [oldCode] = await plainCodes(org, [old]);
    const res = await reissue(old, tokens.operator);
    expect(res.status).toBe(201);
    const fresh = res.body.delivery;
    expect(res.body.reissue_of).toBe(old);
    expect(fresh).toMatchObject({ status: "delivered", reissue_of: old, batch_id: batchId, amount: { amount: 2500, currency: "USD" } });
    expect(fresh.attempts).toEqual([expect.objectContaining({ kind: "reissue", outcome: "sent", actor: "otto" })]);
    const [newCode] = await plainCodes(org, [fresh.id]);
    expect(newCode).toBeTruthy();
    expect(newCode).not.toBe(oldCode);

    const oldView = await getDelivery(old, tokens.support);
    expect(oldView.body).toMatchObject({ status: "reissued", reissues: [{ id: fresh.id, status: "delivered" }] });
    const oldCodeRow = await env.DB.prepare("SELECT status, voided_at FROM inventory_codes WHERE delivery_id = ?")
      .bind(old)
      .first<{ status: string; voided_at: string | null }>();
    expect(oldCodeRow).toMatchObject({ status: "assigned", voided_at: expect.any(String) });
    const items = await env.DB.prepare("SELECT item, committed FROM deliveries WHERE id IN (?, ?)")
      .bind(old, fresh.id)
      .all<{ item: string; committed: number }>();
    expect(new Set(items.results.map((r) => r.item)).size).toBe(1);

    expect(await poolBalance(poolId)).toEqual(before);
    expect((await stub.checkIntegrity()).problems).toEqual([]);
    expect(await auditActions(org, old)).toContain("delivery.reissued");
    expect(await auditActions(org, fresh.id)).toEqual(["delivery.created", "delivery.delivered"]);
    // A second reissue of the old one is refused; the new one can still be reversed (the shared item, once).
    expect((await reissue(old, tokens.operator)).status).toBe(409);
    expect((await reverse(fresh.id, tokens.finance)).status).toBe(200);
    expect((await poolBalance(poolId)).committed).toBe(before.committed! - 2500);
  });

  it("refuses with inventory_exhausted when no code is left, and changes nothing", async () => {
    const org = uniqueOrg("reissue0");
    const { ids, tokens } = await deliveredBatch(org, { recipients: 1, codes: 1 });
    const res = await reissue(ids[0]!, tokens.operator);
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("inventory_exhausted");
    expect((await getDelivery(ids[0]!, tokens.support)).body).toMatchObject({ status: "delivered", reissues: [] });
    expect((await reissue(ids[0]!, tokens.operator)).body.code).toBe("inventory_exhausted"); // not stuck behind a lease
  });

  it("above the threshold needs a request by an operator and a confirmation by another user with finance", async () => {
    const org = uniqueOrg("reissuebig");
    const { ids, tokens, poolId } = await deliveredBatch(org, { recipients: 1, amount: 20_000, codes: 2 });
    const id = ids[0]!;
    expect((await reissue(id, tokens.finance)).status).toBe(403); // nothing requested yet
    const requested = await reissue(id, tokens.operator);
    expect(requested.status).toBe(202);
    expect(requested.body).toMatchObject({
      status: "approval_required",
      approval: { requested_by: "otto", threshold: { amount: 10_000 } },
      delivery: { status: "delivered" },
    });
    const queue = await callJson("/v1/exceptions?status=open&kind=reissue_approval", { token: tokens.finance });
    expect(queue.body.data.map((e: { id: string }) => e.id)).toEqual([requested.body.approval.id]);
    expect((await reissue(id, tokens.operator)).body.approval.id).toBe(requested.body.approval.id);
    const selfConfirm = await reissue(id, await token({ org, sub: "otto", roles: ["operator", "finance"] }));
    expect(selfConfirm.status).toBe(403);
    expect(selfConfirm.body).toMatchObject({ code: "self_approval_forbidden", detail: expect.stringMatching(/four-eyes/) });
    const before = await poolBalance(poolId);
    const confirmed = await reissue(id, tokens.finance);
    expect(confirmed.status).toBe(201);
    expect(confirmed.body.delivery).toMatchObject({ reissue_of: id, status: "delivered" });
    const exc = await env.DB.prepare("SELECT status, resolution, resolved_by FROM exceptions WHERE id = ?").bind(requested.body.approval.id).first();
    expect(exc).toEqual({ status: "resolved", resolution: "approved", resolved_by: "fran" });
    expect(await poolBalance(poolId)).toEqual(before);
  });

  it("withdraws a reissue request still waiting for finance when the delivery is reversed", async () => {
    const org = uniqueOrg("reissuerev");
    const { ids, tokens } = await deliveredBatch(org, { recipients: 1, amount: 20_000, codes: 2 });
    const requested = await reissue(ids[0]!, tokens.operator);
    expect(requested.status).toBe(202);
    expect((await reverse(ids[0]!, tokens.finance)).status).toBe(200);
    const exc = await env.DB.prepare("SELECT status, resolution, note, resolved_by FROM exceptions WHERE id = ?").bind(requested.body.approval.id).first();
    expect(exc).toEqual({ status: "resolved", resolution: "cancel", note: "withdrawn: the delivery was reversed", resolved_by: "fran" });
    expect(await auditActions(org, requested.body.approval.id)).toEqual(["exception.resolved"]);
    expect((await reissue(ids[0]!, tokens.finance)).status).toBe(409); // nothing left to confirm: the delivery is reversed
  });
});

describe("codes stay out of queue messages and logs", () => {
  afterEach(() => vi.restoreAllMocks());

  it("sends ids only on the queue and logs no code or address during a delivery run with failures", async () => {
    const org = uniqueOrg("logs");
    const seeded = await releasedBatch(org, { recipients: 3, enqueue: false });
    const sent: QueueMessage[] = [];
    const queue = {
      async sendBatch(msgs: { body: QueueMessage }[]) {
        for (const m of msgs) sent.push(m.body);
      },
    } as unknown as Queue;
    const fanEnv = { ...env, DELIVERY_QUEUE: queue } as Env;
    const lines: string[] = [];
    const capture = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
    for (const level of ["log", "error", "warn", "info", "debug"] as const) vi.spyOn(console, level).mockImplementation(capture);

    await startRelease(fanEnv, { type: "release", org, batchId: seeded.batchId });
    for (const c of sent.filter((m) => m.type === "chunk")) await runChunk(fanEnv, c as Extract<QueueMessage, { type: "chunk" }>);
    const deliver = onePerDelivery(sent.filter((m) => m.type === "deliver"));
    expect(deliver).toHaveLength(3);
    for (const body of deliver) expect(Object.keys(body).sort()).toEqual(["batchId", "deliveryId", "org", "type"]);

    const run = async (e: Env, bodies: unknown[]) => {
      const batch = createMessageBatch(
        "rewardrail-deliveries",
        bodies.map((body, i) => ({ id: `log-${i}-${Math.random()}`, timestamp: new Date(), attempts: 1, body })),
      );
      const ctx = createExecutionContext();
      await worker.queue(batch as MessageBatch<unknown>, e, ctx);
      return getQueueResult(batch, ctx);
    };
    // A crash after the provider accepted (logged with the message), an unreadable message, then the redelivery.
    await run({ ...env, FAILPOINTS: "after_send" } as Env, [...deliver, { type: "bogus" }]);
    await env.DB.prepare("UPDATE deliveries SET claimed_until = '2000-01-01T00:00:00.000Z' WHERE batch_id = ?").bind(seeded.batchId).run();
    const done = await run(env, deliver);
    expect(done.explicitAcks).toHaveLength(3);

    const ids = deliver.map((m) => (m as { deliveryId: string }).deliveryId);
    const codes = await plainCodes(org, ids);
    expect(codes).toHaveLength(3);
    expect(lines.length).toBeGreaterThan(0); // the failures were logged: the check below looks at real output
    const logged = lines.join("\n");
    expect(logged).toContain(ids[0]);
    for (const code of codes) expect(logged).not.toContain(code);
    expect(logged).not.toMatch(/@example\.com/);
    expect(JSON.stringify(sent)).not.toMatch(/GIFT-|@/);
  });
});
