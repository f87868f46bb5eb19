import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { batchHoldId } from "../src/pools/op-ids";
import { poolStub } from "../src/pools/pool-client";
import { callJson, uniqueOrg } from "./helpers/api";
import { seedBatch, uploadCsv } from "./helpers/batch-factories";
import { recipientsCsv } from "./helpers/delivery-factories";
import { exceptionsFor, financeToken, reconcile, sql } from "./helpers/reconciliation-factories";

/** A batch in `status` whose pool still holds a 3,000 hold for it, and the exception reconciliation opened about it. */
async function unreleasedHold(status: string) {
  const org = uniqueOrg();
  const { batchId, poolId, tokens } = await seedBatch(org, { product: { kind: "stored_value" } });
  expect((await uploadCsv(batchId, tokens.operator, recipientsCsv(2, 1500, org))).status).toBe(200);
  const stub = poolStub(env, poolId);
  expect((await stub.reserve({ opId: "r1", holdId: batchHoldId(batchId), amount: 3000, expiresAt: Date.now() + 86_400_000, actor: "test" })).ok).toBe(true);
  await sql("UPDATE batches SET status = ? WHERE id = ?", status, batchId);
  await reconcile(org);
  const [exc] = await exceptionsFor(org, batchHoldId(batchId));
  return { org, batchId, poolId, stub, exc, finance: await financeToken(org) };
}

const resolve = (id: string, t: string, action: string) => callJson(`/v1/exceptions/${id}/resolve`, { token: t, body: { action, note: "checked" } });

describe("resolving expired_hold_unreleased", () => {
  it("cancel releases the hold's rest to the pool, once; retry is refused", async () => {
    const { batchId, poolId, stub, exc, finance } = await unreleasedHold("cancelled");
    expect(exc).toMatchObject({ kind: "expired_hold_unreleased", status: "open" });
    const retry = await resolve(exc.id, finance, "retry");
    expect([retry.status, retry.body.code]).toEqual([409, "invalid_state_transition"]);

    const res = await resolve(exc.id, finance, "cancel");
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ status: "resolved", resolution: "cancel", resolved_by: "fran" });
    expect(await stub.getHold(batchHoldId(batchId))).toMatchObject({ state: "released", remaining: 0, released: 3000 });
    expect((await callJson(`/v1/pools/${poolId}`, { token: finance })).body.balance).toMatchObject({ reserved: 0, available: 1_000_000 });
    expect((await resolve(exc.id, finance, "cancel")).body.code).toBe("already_resolved");
    expect((await stub.checkIntegrity()).ok).toBe(true);
  });

  it("cancel is refused while the batch owns its hold (cancel the batch instead), and nothing is released", async () => {
    const { batchId, stub, exc, finance } = await unreleasedHold("cancelled");
    // As if the batch were live again (e.g. its hold reported overdue while still submitted).
    await sql("UPDATE batches SET status = 'submitted' WHERE id = ?", batchId);
    const res = await resolve(exc.id, finance, "cancel");
    expect([res.status, res.body.code, res.body.batch_status]).toEqual([409, "invalid_state_transition", "submitted"]);
    expect(await stub.getHold(batchHoldId(batchId))).toMatchObject({ state: "pending", remaining: 3000 });
    expect((await exceptionsFor(exc.org, exc.entity_id))[0].status).toBe("open");
  });
});
