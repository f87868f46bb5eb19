import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openExceptions } from "../src/exceptions/exceptions.open";
import { batchHoldId } from "../src/pools/op-ids";
import { HOLD_GRACE_MS } from "../src/reconciliation/check.batches";
import { RETRY_HOLD_PREFIX } from "../src/pools/op-ids";
import { DEFAULT_SETTINGS } from "../src/settings/settings.schema";
import { callJson, uniqueOrg } from "./helpers/api";
import { createProduct, orgTokens, seedBatch, uploadCsv } from "./helpers/batch-factories";
import { recipientsCsv, releasedBatch, waitForBatch } from "./helpers/delivery-factories";
import { acceptException, approvedBatch, exceptionsFor, findingsOf, reconcile, sql } from "./helpers/reconciliation-factories";

const kinds = (list: any[]) => [...new Set(list.map((f) => f.kind))].sort();
const deliveriesOf = async (batchId: string) =>
  (await env.DB.prepare("SELECT * FROM deliveries WHERE batch_id = ? ORDER BY id").bind(batchId).all<any>()).results;
const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();

describe("each finding kind comes from a constructed scenario", () => {
  it("duplicate_payout: a second live delivery for one recipient, written behind the API's back", async () => {
    const org = uniqueOrg();
    const { batchId, amount } = await approvedBatch(org, { recipients: 3 });
    const [d] = await deliveriesOf(batchId);
    await sql(
      `INSERT INTO deliveries (id, org, batch_id, recipient_id, pool_id, product_id, channel, amount, currency, status, item, committed, created_at, updated_at, delivered_at)
       SELECT 'dlv_dup' || substr(id, 5), org, batch_id, recipient_id, pool_id, product_id, channel, amount, currency, 'delivered', item, 1, created_at, updated_at, delivered_at
       FROM deliveries WHERE id = ?`,
      d.id,
    );
    const run = await reconcile(org);
    const found = await findingsOf(org, run.id);
    expect(kinds(found)).toEqual(["duplicate_payout"]);
    expect(found[0]).toMatchObject({
      severity: "high",
      entity_type: "recipient",
      entity_id: d.recipient_id,
      batch_id: batchId,
      expected: amount,
      actual: 2 * amount,
      difference: amount,
    });
    expect(found[0].data.deliveries.map((x: any) => x.id).sort()).toEqual([d.id, `dlv_dup${d.id.slice(4)}`].sort());
    const [exc] = await exceptionsFor(org, d.recipient_id);
    expect(exc).toMatchObject({ kind: "duplicate_payout", status: "open", severity: "high", batch_id: batchId });
    expect(found[0].exception_id).toBe(exc.id);
  });

  it("duplicate_payout: one person paid by two batches released within the prior-payout window", async () => {
    const org = uniqueOrg();
    const first = await approvedBatch(org, { recipients: 2 });
    const second = await approvedBatch(org, { recipients: 2 }); // same people: the window was off at upload
    expect((await findingsOf(org, (await reconcile(org)).id)).length).toBe(0);
    const settings = JSON.stringify({ ...DEFAULT_SETTINGS, prior_payout_window_days: 30 });
    await sql("INSERT INTO org_settings (org, settings, version, updated_by, updated_at) VALUES (?, ?, 1, 'ada', ?)", org, settings, new Date().toISOString());
    const found = await findingsOf(org, (await reconcile(org)).id);
    expect(kinds(found)).toEqual(["duplicate_payout"]);
    expect(found.map((f) => f.entity_id).sort()).toEqual((await deliveriesOf(second.batchId)).map((d) => d.id).sort());
    expect(found.every((f) => f.data.other_batch_id === first.batchId && f.data.matched_on === "email")).toBe(true);
  });

  it("ledger_drift: a journal entry missing from D1, a tampered mirror balance, a delivery that lost its commit", async () => {
    const org = uniqueOrg();
    const { batchId, poolId, stub, amount } = await approvedBatch(org, { recipients: 3 });
    await stub.syncMirror();
    const commit = await env.DB.prepare("SELECT seq, amount FROM pool_ledger WHERE pool_id = ? AND kind = 'commit' ORDER BY seq LIMIT 1")
      .bind(poolId)
      .first<any>();
    await sql("DELETE FROM pool_ledger WHERE pool_id = ? AND seq = ?", poolId, commit.seq);
    await sql("UPDATE pools SET available = available + 1 WHERE id = ?", poolId);
    const [d] = await deliveriesOf(batchId);
    await sql("UPDATE deliveries SET committed = 0 WHERE id = ?", d.id);

    const found = await findingsOf(org, (await reconcile(org)).id);
    expect(kinds(found)).toEqual(["ledger_drift"]);
    const pool = found.find((f) => f.entity_type === "pool");
    expect(pool).toMatchObject({
      entity_id: poolId,
      expected: commit.amount,
      actual: 0,
      data: { missing_seqs: [commit.seq], missing_count: 1, extra_count: 0 },
    });
    expect(pool.detail).toContain("D1 available is");
    expect(pool.detail).toContain(`its deliveries ${2 * amount}`);
    const delivery = found.find((f) => f.entity_type === "delivery");
    expect(delivery).toMatchObject({ entity_id: d.id, expected: amount, actual: 0, data: { check: "item_vs_delivery", pool_item_state: "committed" } });
    expect(found).toHaveLength(2);
  });

  it("ledger_drift: a delivery amount edited behind the API's back names both amounts, and an accepted one reopens when the amount changes again", async () => {
    const org = uniqueOrg();
    const { batchId, amount } = await approvedBatch(org, { recipients: 2 });
    const [d] = await deliveriesOf(batchId);
    await sql("UPDATE deliveries SET amount = ? WHERE id = ?", amount * 10, d.id);
    const ofDelivery = async () => (await findingsOf(org, (await reconcile(org)).id)).filter((f) => f.entity_id === d.id);
    const [first] = await ofDelivery(); // the pool's committed-by-deliveries total is a finding of its own
    expect(first).toMatchObject({
      kind: "ledger_drift",
      entity_id: d.id,
      expected: amount,
      actual: amount * 10,
      data: { pool_item_amount: amount, delivery_amount: amount * 10 },
    });
    expect(first.detail).toContain(`the pool committed ${amount} USD for item ${d.item} but the delivery says ${amount * 10}`);
    await acceptException(org, first.exception_id);

    expect((await ofDelivery())[0].exception_id).toBe(first.exception_id); // unchanged: stays accepted
    await sql("UPDATE deliveries SET amount = ? WHERE id = ?", amount * 12, d.id);
    const [changed] = await ofDelivery();
    expect(changed.exception_id).not.toBe(first.exception_id);
    expect((await exceptionsFor(org, d.id)).map((e) => [e.status, e.kind])).toEqual([
      ["resolved", "ledger_drift"],
      ["open", "ledger_drift"],
    ]);
  });

  it("ledger_drift: a mirrored commit entry whose item list was edited", async () => {
    const org = uniqueOrg();
    const { poolId, stub } = await approvedBatch(org, { recipients: 2 });
    await stub.syncMirror();
    const commit = await env.DB.prepare("SELECT seq, amount, items FROM pool_ledger WHERE pool_id = ? AND kind = 'commit' ORDER BY seq LIMIT 1")
      .bind(poolId)
      .first<any>();
    expect(JSON.parse(commit.items).length).toBeGreaterThan(0);
    await sql("UPDATE pool_ledger SET items = '[]' WHERE pool_id = ? AND seq = ?", poolId, commit.seq);
    const found = await findingsOf(org, (await reconcile(org)).id);
    expect(found.map((f) => [f.kind, f.entity_id, f.data.altered_seqs, f.expected, f.actual])).toEqual([
      ["ledger_drift", poolId, [commit.seq], commit.amount, commit.amount],
    ]);
  });

  it("spend_without_approval: value committed for a batch that never went through approval", async () => {
    const org = uniqueOrg();
    const { batchId, validTotal } = await releasedBatch(org, { recipients: 2 });
    expect(await waitForBatch(batchId, ["completed"])).toBe("completed");
    const found = await findingsOf(org, (await reconcile(org)).id);
    expect(kinds(found)).toEqual(["spend_without_approval"]);
    expect(found[0]).toMatchObject({ entity_type: "batch", entity_id: batchId, expected: 0, actual: validTotal, severity: "high" });
  });

  it("stuck_delivery: sending for hours with a lapsed lease (a live lease is not stuck)", async () => {
    const org = uniqueOrg();
    const { batchId } = await approvedBatch(org, { recipients: 3 });
    const [stuck, working] = await deliveriesOf(batchId);
    await sql("UPDATE deliveries SET status = 'sending', updated_at = ?, claimed_until = ? WHERE id = ?", hoursAgo(2), hoursAgo(2), stuck.id);
    await sql(
      "UPDATE deliveries SET status = 'sending', updated_at = ?, claimed_until = ? WHERE id = ?",
      hoursAgo(2),
      new Date(Date.now() + 60_000).toISOString(),
      working.id,
    );
    const found = await findingsOf(org, (await reconcile(org)).id);
    expect(found.map((f) => [f.kind, f.entity_id])).toEqual([["stuck_delivery", stuck.id]]);
    expect(found[0].data).toMatchObject({ status: "sending" });
  });

  it("failed_unresolved: opens its own exception, updates the delivery's open one, skips a resolved one", async () => {
    const org = uniqueOrg();
    const { batchId, stub } = await approvedBatch(org, { recipients: 3, kind: "stored_value", channel: "link" });
    const [a, b, c] = await deliveriesOf(batchId);
    for (const d of [a, b, c]) {
      // As the delivery code fails one: value refunded, card void, status failed.
      expect((await stub.refund({ opId: `test-refund:${d.id}`, itemId: d.item, actor: "test" })).ok).toBe(true);
      await sql("UPDATE deliveries SET status = 'failed', committed = 0 WHERE id = ?", d.id);
      await sql("UPDATE cards SET status = 'void' WHERE delivery_id = ?", d.id);
    }
    const exc = (kind: string, id: string) => ({ org, kind, severity: "medium" as const, entityType: "delivery", entityId: id, batchId, detail: "bounced" });
    await openExceptions(env.DB, [exc("delivery_failed", b.id), exc("delivery_failed", c.id)])!.run();
    await sql("UPDATE exceptions SET status = 'resolved', resolution = 'accept' WHERE org = ? AND entity_id = ?", org, c.id);

    const found = await findingsOf(org, (await reconcile(org)).id);
    expect(found.map((f) => [f.kind, f.entity_id]).sort()).toEqual(
      [
        ["failed_unresolved", a.id],
        ["failed_unresolved", b.id],
      ].sort(),
    );
    const [own] = await exceptionsFor(org, a.id);
    expect(own).toMatchObject({ kind: "failed_unresolved", status: "open" });
    const bExceptions = await exceptionsFor(org, b.id);
    expect(bExceptions.map((e) => [e.kind, e.occurrences])).toEqual([["delivery_failed", 2]]);
    expect(found.find((f) => f.entity_id === b.id).exception_id).toBe(bExceptions[0].id);
  });

  it("orphan_code: a dead-lettered delivery's code is its own exception's problem while that is open, an orphan once it was accepted", async () => {
    const org = uniqueOrg();
    const { batchId, stub } = await approvedBatch(org, { recipients: 2 });
    const [d] = await deliveriesOf(batchId);
    // As the dead-letter consumer fails one: value refunded, status failed, its code still assigned.
    expect((await stub.refund({ opId: `test-refund:${d.id}`, itemId: d.item, actor: "test" })).ok).toBe(true);
    await sql("UPDATE deliveries SET status = 'failed', committed = 0 WHERE id = ?", d.id);
    await openExceptions(env.DB, [
      { org, kind: "delivery_dead_lettered", severity: "high", entityType: "delivery", entityId: d.id, batchId, detail: "retries exhausted" },
    ])!.run();

    const open = await findingsOf(org, (await reconcile(org)).id);
    expect(open.map((f) => [f.kind, f.entity_id])).toEqual([["failed_unresolved", d.id]]);
    const [own] = await exceptionsFor(org, d.id);
    await acceptException(org, own.id);
    const accepted = await findingsOf(org, (await reconcile(org)).id);
    expect(accepted.map((f) => [f.kind, f.entity_type, f.data.delivery_id])).toEqual([["orphan_code", "inventory_code", d.id]]);
  });

  it("expired_hold_unreleased: a cancelled batch whose hold still reserves its value", async () => {
    const org = uniqueOrg();
    const { batchId, poolId, tokens } = await seedBatch(org, { product: { kind: "stored_value" } });
    expect((await uploadCsv(batchId, tokens.operator, recipientsCsv(2, 1500, org))).status).toBe(200);
    const stub = env.FUNDING_POOL.get(env.FUNDING_POOL.idFromName(poolId));
    expect((await stub.reserve({ opId: "r1", holdId: batchHoldId(batchId), amount: 3000, expiresAt: Date.now() + 86_400_000, actor: "test" })).ok).toBe(true);
    await sql("UPDATE batches SET status = 'cancelled' WHERE id = ?", batchId);
    const found = await findingsOf(org, (await reconcile(org)).id);
    expect(found.map((f) => [f.kind, f.entity_type, f.entity_id, f.expected, f.actual])).toEqual([
      ["expired_hold_unreleased", "hold", batchHoldId(batchId), 0, 3000],
    ]);
  });

  it("expired_hold_unreleased: a retry's hold the pool's alarm never expired, listed once beside an overdue batch hold", async () => {
    const org = uniqueOrg();
    const { batchId, poolId, tokens } = await seedBatch(org, { product: { kind: "stored_value" } });
    expect((await uploadCsv(batchId, tokens.operator, recipientsCsv(2, 1500, org))).status).toBe(200);
    const stub = env.FUNDING_POOL.get(env.FUNDING_POOL.idFromName(poolId));
    const retryHold = `${RETRY_HOLD_PREFIX}exc_test${org}`;
    const inAnHour = Date.now() + 3_600_000;
    expect((await stub.reserve({ opId: "b1", holdId: batchHoldId(batchId), amount: 3000, expiresAt: inAnHour, actor: "test" })).ok).toBe(true);
    expect((await stub.reserve({ opId: "r1", holdId: retryHold, amount: 1500, expiresAt: inAnHour, actor: "test" })).ok).toBe(true);
    await sql("UPDATE batches SET status = 'submitted' WHERE id = ?", batchId);
    // Within the grace period nothing is reported: the alarm may simply not have run yet.
    const justDue = Date.now() - HOLD_GRACE_MS + 60_000;
    await runInDurableObject(stub, async (_pool, state) => {
      await state.storage.deleteAlarm();
      state.storage.sql.exec("UPDATE holds SET expires_at = ?", justDue);
    });
    expect(await findingsOf(org, (await reconcile(org)).id)).toEqual([]);

    // Long past expiry with no alarm to run: a stuck hold, each reported by one phase.
    const longAgo = Date.now() - 2 * HOLD_GRACE_MS;
    await runInDurableObject(stub, (_pool, state) => void state.storage.sql.exec("UPDATE holds SET expires_at = ?", longAgo));
    const found = await findingsOf(org, (await reconcile(org)).id);
    expect(found.map((f) => [f.kind, f.entity_type, f.entity_id, f.expected, f.actual]).sort()).toEqual([
      ["expired_hold_unreleased", "hold", batchHoldId(batchId), 0, 3000],
      ["expired_hold_unreleased", "hold", retryHold, 0, 1500],
    ]);
    const retry = found.find((f) => f.entity_id === retryHold);
    expect(retry).toMatchObject({ pool_id: poolId, currency: "USD", data: { exception_id: `exc_test${org}`, hold_amount: 1500 } });
    expect(retry.detail).toContain(`the retry of exception exc_test${org}`);
  });

  it("unused_inventory and orphan_code: idle stock, and a code assigned to a delivery that does not exist", async () => {
    const org = uniqueOrg();
    const tokens = await orgTokens(org);
    const productId = await createProduct(tokens.admin);
    const codes = [1000, 1000, 2500].map((amount, i) => ({ code: `IDLE-${org}-${i}`, amount }));
    expect([200, 201]).toContain((await callJson(`/v1/products/${productId}/codes`, { token: tokens.admin, body: { codes } })).status);
    const code = await env.DB.prepare("SELECT id FROM inventory_codes WHERE product_id = ? AND amount = 2500").bind(productId).first<{ id: string }>();
    await sql("UPDATE inventory_codes SET status = 'assigned', delivery_id = 'dlv_gone', assigned_at = ? WHERE id = ?", new Date().toISOString(), code!.id);

    const found = await findingsOf(org, (await reconcile(org)).id);
    expect(found.map((f) => [f.kind, f.entity_id, f.actual]).sort()).toEqual([
      ["orphan_code", code!.id, 2500],
      ["unused_inventory", productId, 2000],
    ]);
    expect(found.find((f) => f.kind === "unused_inventory").data).toMatchObject({ codes: 2, available: 2, active_batches: 0 });
  });
});
