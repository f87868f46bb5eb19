import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { IDLE_MS, releaseOrphanHolds } from "../src/batches/orphan-holds";
import { CRON_JOBS } from "../src/cron";
import { poolStub } from "../src/pools/pool-client";
import { callJson, uniqueOrg } from "./helpers/api";
import { seedBatch, uploadCsv } from "./helpers/batch-factories";

const TOTAL = 2_500;

/** A validated batch of one 2,500 recipient (no approvers: submit needs none). */
async function validated() {
  const seeded = await seedBatch(uniqueOrg("orphan"), { fund: 10_000 });
  const up = await uploadCsv(seeded.batchId, seeded.tokens.operator, `external_id,email,country,amount\nR1,r1@example.com,US,${TOTAL}\n`);
  expect(up.body.batch?.status).toBe("validated");
  return { ...seeded, stub: poolStub(env, seeded.poolId), holdId: `hold_${seeded.batchId}` };
}

/** What an interrupted submit leaves: the batch's hold reserved in the pool, nothing in D1. */
async function strayHold(stub: ReturnType<typeof poolStub>, holdId: string) {
  const r = await stub.reserve({ opId: `stray_${holdId}`, holdId, amount: TOTAL, expiresAt: Date.now() + 365 * 86_400_000, actor: "otto" });
  expect(r.ok).toBe(true);
  await stub.syncMirror(); // the sweep finds pools by the D1 mirror's reserved balance (the alarm drains it 250 ms later)
}

const reservedOf = async (poolId: string, t: string) => (await callJson(`/v1/pools/${poolId}`, { token: t })).body.balance.reserved as number;
const backdate = (stub: ReturnType<typeof poolStub>, holdId: string) =>
  runInDurableObject(
    stub,
    (_i, state) => void state.storage.sql.exec("UPDATE holds SET touched_at = ? WHERE hold_id = ?", Date.now() - IDLE_MS - 1_000, holdId),
  );

describe("orphan-hold sweep", () => {
  it("runs every five minutes", () => {
    expect(Object.keys(CRON_JOBS["*/5 * * * *"]!)).toContain("batches.orphan-hold-sweep");
  });

  it("releases at once the hold of a batch cancelled before a crashed submit's hold was given back, and audits it", async () => {
    const { batchId, poolId, tokens, stub, holdId } = await validated();
    await strayHold(stub, holdId);
    expect((await callJson(`/v1/batches/${batchId}/cancel`, { token: tokens.operator, body: {} })).status).toBe(200);
    // The cancel released it already; a stray hold made after the cancel (the submit crashed before giving it back) is the sweep's.
    expect((await stub.reserve({ opId: `late_${holdId}`, holdId, amount: TOTAL, expiresAt: Date.now() + 86_400_000, actor: "otto", reopen: true })).ok).toBe(
      true,
    );
    await stub.syncMirror();
    expect(await reservedOf(poolId, tokens.finance)).toBe(TOTAL);
    expect(await releaseOrphanHolds(env, new Date())).toBeGreaterThanOrEqual(1);
    expect(await reservedOf(poolId, tokens.finance)).toBe(0);
    expect((await stub.getHold(holdId))?.state).toBe("released");
    const audit = (await callJson(`/v1/audit?entity_id=${batchId}`, { token: tokens.admin })).body.data;
    expect(audit.map((e: any) => e.action)).toContain("batch.hold_released");
    expect((await stub.checkIntegrity()).ok).toBe(true);
  });

  it("leaves a validated batch's hold while a submit may adopt it, releases it once idle, and the batch can still be submitted", async () => {
    const { batchId, poolId, tokens, stub, holdId } = await validated();
    await strayHold(stub, holdId);
    await releaseOrphanHolds(env, new Date(Date.now() + 2 * IDLE_MS));
    expect((await stub.getHold(holdId))?.state).toBe("pending"); // the pool's own clock says it was just used

    await backdate(stub, holdId);
    await stub.touchHold(holdId); // a submit adopting it now wins over the sweep
    await releaseOrphanHolds(env, new Date(Date.now() + 2 * IDLE_MS));
    expect((await stub.getHold(holdId))?.state).toBe("pending");

    await backdate(stub, holdId);
    await releaseOrphanHolds(env, new Date());
    expect(await reservedOf(poolId, tokens.finance)).toBe(0);

    const submitted = await callJson(`/v1/batches/${batchId}/submit`, { token: tokens.operator, method: "POST" });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(200);
    expect(await stub.getHold(holdId)).toMatchObject({ state: "pending", remaining: TOTAL, committed: 0 });
    expect(await reservedOf(poolId, tokens.finance)).toBe(TOTAL);
    await backdate(stub, holdId);
    await stub.syncMirror();
    await releaseOrphanHolds(env, new Date());
    expect(await reservedOf(poolId, tokens.finance)).toBe(TOTAL); // a submitted batch owns its hold
    expect((await stub.checkIntegrity()).ok).toBe(true);
  });
});
