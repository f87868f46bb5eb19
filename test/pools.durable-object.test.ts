import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

function freshPool(limits: Record<string, number> = {}) {
  const stub = env.FUNDING_POOL.get(env.FUNDING_POOL.idFromName(`do-${crypto.randomUUID()}`));
  return { stub, ready: stub.init({ poolId: `pool_${crypto.randomUUID()}`, org: "acme", currency: "USD", limits }) };
}
const later = () => Date.now() + 3_600_000;

describe("FundingPool under concurrency", () => {
  it("never reserves more than the funds when 50 reserves race", async () => {
    const { stub, ready } = freshPool();
    await ready;
    await stub.fund({ opId: "f", amount: 10_000, actor: "t" });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => stub.reserve({ opId: `r${i}`, holdId: `h${i}`, amount: 700, expiresAt: later(), actor: "t" })),
    );
    const ok = results.filter((r) => r.ok);
    const refused = results.filter((r) => !r.ok);
    expect(ok).toHaveLength(14); // 14 × 700 = 9,800 ≤ 10,000 < 15 × 700
    expect(refused.every((r) => !r.ok && r.code === "insufficient_funds")).toBe(true);
    const { balance } = (await stub.getBalance()) as { balance: { reserved: number; available: number } };
    expect(balance).toMatchObject({ reserved: 9_800, available: 200 });
    expect((await stub.checkIntegrity()).problems).toEqual([]);
  });

  it("resolves a hold exactly once when commit, release and expiry race", async () => {
    const { stub, ready } = freshPool();
    await ready;
    await stub.fund({ opId: "f", amount: 1_000, actor: "t" });
    await stub.reserve({ opId: "r", holdId: "h", amount: 1_000, expiresAt: Date.now() + 30, actor: "t" });
    await new Promise((r) => setTimeout(r, 40));
    const [commit, release] = await Promise.all([
      stub.commit({ holdId: "h", items: [{ id: "d1", amount: 400 }], actor: "t" }),
      stub.release({ opId: "rel", holdId: "h", amount: "rest", actor: "t" }),
      runDurableObjectAlarm(stub),
    ]);
    const hold = await stub.getHold("h");
    expect(["posted", "released", "expired"]).toContain(hold!.state);
    expect(hold!.remaining).toBe(0);
    // Whatever won, value is conserved: what was committed plus what came back is the hold.
    expect(hold!.committed + hold!.released).toBe(1_000);
    const b = (await stub.getBalance()) as { balance: Record<string, number> };
    expect(b.balance).toMatchObject({ reserved: 0, committed: hold!.committed, available: 1_000 - hold!.committed });
    expect(commit.ok && release.ok).toBe(true);
    expect((await stub.checkIntegrity()).problems).toEqual([]);
  });
});

describe("FundingPool holds and items", () => {
  it("expires a hold through the alarm and returns its remainder once", async () => {
    const { stub, ready } = freshPool();
    await ready;
    await stub.fund({ opId: "f", amount: 500, actor: "t" });
    await stub.reserve({ opId: "r", holdId: "h", amount: 300, expiresAt: Date.now() + 20, actor: "t" });
    await stub.commit({ holdId: "h", items: [{ id: "d1", amount: 100 }], actor: "t" });
    await new Promise((r) => setTimeout(r, 30));
    await runDurableObjectAlarm(stub); // the alarm may already have fired by itself; either way it ran
    const hold = await stub.getHold("h");
    expect(hold).toMatchObject({ state: "expired", remaining: 0, committed: 100, released: 200 });
    await runDurableObjectAlarm(stub);
    const b = (await stub.getBalance()) as { balance: Record<string, number> };
    expect(b.balance).toMatchObject({ available: 400, reserved: 0, committed: 100, released: 200 });
    const late = await stub.commit({ holdId: "h", items: [{ id: "d2", amount: 50 }], actor: "t" });
    expect(late.ok && late.items[0]).toMatchObject({ status: "rejected", code: "hold_not_active" });
  });

  it("replays an operation id with the first result, even a failure, and refuses other arguments", async () => {
    const { stub, ready } = freshPool();
    await ready;
    const failed = await stub.withdraw({ opId: "w", amount: 10, actor: "t" });
    expect(failed).toMatchObject({ ok: false, code: "insufficient_funds" });
    await stub.fund({ opId: "f", amount: 100, actor: "t" });
    expect(await stub.withdraw({ opId: "w", amount: 10, actor: "t" })).toEqual(failed);
    expect(await stub.fund({ opId: "f", amount: 101, actor: "t" })).toMatchObject({ ok: false, code: "operation_id_reused" });
    const b = (await stub.getBalance()) as { balance: Record<string, number> };
    expect(b.balance).toMatchObject({ available: 100, funded: 100, withdrawn: 0 });
  });

  it("commits an item once however often it is sent, and never beyond the hold", async () => {
    const { stub, ready } = freshPool();
    await ready;
    await stub.fund({ opId: "f", amount: 1_000, actor: "t" });
    await stub.reserve({ opId: "r", holdId: "h", amount: 250, expiresAt: later(), actor: "t" });
    const items = [
      { id: "d1", amount: 100 },
      { id: "d2", amount: 100 },
      { id: "d3", amount: 100 },
    ];
    const first = await stub.commit({ holdId: "h", items, actor: "t" });
    const again = await stub.commit({ holdId: "h", items, actor: "t" });
    expect(first.ok && first.items.map((i) => i.status)).toEqual(["committed", "committed", "rejected"]);
    expect(again.ok && again.items.map((i) => i.status)).toEqual(["already_committed", "already_committed", "rejected"]);
    const b = (await stub.getBalance()) as { balance: Record<string, number> };
    expect(b.balance).toMatchObject({ committed: 200, reserved: 50 });
  });

  it("reverses a committed item back to available, once", async () => {
    const { stub, ready } = freshPool();
    await ready;
    await stub.fund({ opId: "f", amount: 1_000, actor: "t" });
    await stub.reserve({ opId: "r", holdId: "h", amount: 300, expiresAt: later(), actor: "t" });
    await stub.commit({ holdId: "h", items: [{ id: "d1", amount: 300 }], actor: "t" });
    expect(await stub.reverse({ opId: "v1", itemId: "d1", actor: "t" })).toMatchObject({ ok: true, amount: 300 });
    expect(await stub.reverse({ opId: "v2", itemId: "d1", actor: "t" })).toMatchObject({ ok: false, code: "item_not_committed" });
    const b = (await stub.getBalance()) as { balance: Record<string, number> };
    expect(b.balance).toMatchObject({ available: 1_000, committed: 0, reversed: 300 });
  });
});

describe("FundingPool limits", () => {
  it("refuses a hold above the per-hold maximum", async () => {
    const { stub, ready } = freshPool({ max_hold_amount: 1_000 });
    await ready;
    await stub.fund({ opId: "f", amount: 5_000, actor: "t" });
    expect(await stub.reserve({ opId: "r", holdId: "h", amount: 1_001, expiresAt: later(), actor: "t" })).toMatchObject({ ok: false, code: "limit_exceeded" });
    expect(await stub.reserve({ opId: "r2", holdId: "h", amount: 1_000, expiresAt: later(), actor: "t" })).toMatchObject({ ok: true });
  });

  it("enforces the pool's daily commit limit and the per-recipient daily limit", async () => {
    const { stub, ready } = freshPool({ daily_commit_limit: 1_000, recipient_daily_limit: 300 });
    await ready;
    await stub.fund({ opId: "f", amount: 5_000, actor: "t" });
    await stub.reserve({ opId: "r", holdId: "h", amount: 2_000, expiresAt: later(), actor: "t" });
    const res = await stub.commit({
      holdId: "h",
      actor: "t",
      items: [
        { id: "a1", amount: 200, recipientKey: "ann@example.com" },
        { id: "a2", amount: 200, recipientKey: "ann@example.com" },
        { id: "b1", amount: 300, recipientKey: "bob@example.com" },
        { id: "c1", amount: 300, recipientKey: "cy@example.com" },
        { id: "d1", amount: 300, recipientKey: "di@example.com" },
      ],
    });
    expect(res.ok && res.items.map((i) => (i.status === "rejected" ? i.code : i.status))).toEqual([
      "committed",
      "limit_exceeded",
      "committed",
      "committed",
      "limit_exceeded",
    ]);
    const b = (await stub.getBalance()) as { balance: Record<string, number> };
    expect(b.balance.committed).toBe(800);

    // Later calls count what earlier calls committed today: per recipient, and for the pool.
    const later1 = await stub.commit({ holdId: "h", actor: "t", items: [{ id: "a3", amount: 100, recipientKey: "ann@example.com" }] });
    const later2 = await stub.commit({ holdId: "h", actor: "t", items: [{ id: "a4", amount: 1, recipientKey: "ann@example.com" }] });
    const later3 = await stub.commit({ holdId: "h", actor: "t", items: [{ id: "e1", amount: 101, recipientKey: "ed@example.com" }] });
    const later4 = await stub.commit({ holdId: "h", actor: "t", items: [{ id: "e2", amount: 100, recipientKey: "ed@example.com" }] });
    expect([later1, later2, later3, later4].map((r) => r.ok && r.items[0]!.status)).toEqual(["committed", "rejected", "rejected", "committed"]);
    const after = (await stub.getBalance()) as { balance: Record<string, number> };
    expect(after.balance.committed).toBe(1_000);
  });

  it("refuses amounts that are not positive safe integers without touching the journal", async () => {
    const { stub, ready } = freshPool();
    await ready;
    for (const amount of [0, -1, 1.5, 2 ** 53, Number.NaN]) {
      expect(await stub.fund({ opId: `f${amount}`, amount, actor: "t" })).toMatchObject({ ok: false, code: "invalid_argument" });
    }
    expect(await stub.fund({ opId: "s", amount: "10" as unknown as number, actor: "t" })).toMatchObject({ ok: false, code: "invalid_argument" });
    const b = (await stub.getBalance()) as { balance: Record<string, number> };
    expect(b.balance.funded).toBe(0);
    expect(await stub.syncMirror()).toBe(0);
  });
});

describe("FundingPool hold extension", () => {
  it("pushes a pending hold's expiry later, never earlier, and not once it is resolved", async () => {
    const { stub, ready } = freshPool();
    await ready;
    await stub.fund({ opId: "f", amount: 100, actor: "t" });
    const at = Date.now() + 60_000;
    await stub.reserve({ opId: "r", holdId: "h", amount: 100, expiresAt: at, actor: "t" });
    expect(await stub.extendHold("h", at + 1_000)).toMatchObject({ ok: true, hold: { expires_at: at + 1_000 } });
    expect(await stub.extendHold("h", at - 1_000)).toMatchObject({ ok: true, hold: { expires_at: at + 1_000 } });
    await stub.release({ opId: "rel", holdId: "h", amount: "rest", actor: "t" });
    expect(await stub.extendHold("h", at + 5_000)).toMatchObject({ ok: false, code: "hold_not_active" });
  });
});

describe("FundingPool holds a sweep and a resubmission use", () => {
  it("reopens a released, never-committed hold only when asked, keeping amount = remaining + committed + released", async () => {
    const { stub, ready } = freshPool();
    await ready;
    await stub.fund({ opId: "f", amount: 1_000, actor: "t" });
    await stub.reserve({ opId: "r1", holdId: "h", amount: 400, expiresAt: later(), actor: "t" });
    await stub.release({ opId: "rel", holdId: "h", amount: "rest", actor: "t" });
    expect(await stub.reserve({ opId: "r2", holdId: "h", amount: 300, expiresAt: later(), actor: "t" })).toMatchObject({ ok: false, code: "hold_exists" });
    expect(await stub.reserve({ opId: "r3", holdId: "h", amount: 300, expiresAt: later(), actor: "t", reopen: true })).toMatchObject({
      ok: true,
      hold: { state: "pending", amount: 700, remaining: 300, released: 400, committed: 0 },
    });
    // A pending or a committed hold is never reopened.
    expect(await stub.reserve({ opId: "r4", holdId: "h", amount: 100, expiresAt: later(), actor: "t", reopen: true })).toMatchObject({
      ok: false,
      code: "hold_exists",
    });
    await stub.commit({ holdId: "h", items: [{ id: "d1", amount: 300 }], actor: "t" });
    await stub.release({ opId: "rel2", holdId: "h", amount: "rest", actor: "t" });
    expect(await stub.reserve({ opId: "r5", holdId: "h", amount: 100, expiresAt: later(), actor: "t", reopen: true })).toMatchObject({
      ok: false,
      code: "hold_exists",
    });
    expect((await stub.checkIntegrity()).problems).toEqual([]);
  });

  it("lists open holds page by page, and an idle-only release leaves a recently touched hold alone", async () => {
    const { stub, ready } = freshPool();
    await ready;
    await stub.fund({ opId: "f", amount: 1_000, actor: "t" });
    for (const h of ["a", "b", "c"]) await stub.reserve({ opId: `r-${h}`, holdId: h, amount: 100, expiresAt: later(), actor: "t" });
    await stub.release({ opId: "rel-b", holdId: "b", amount: "rest", actor: "t" });
    expect((await stub.openHolds("", 1)).map((h) => h.hold_id)).toEqual(["a"]);
    expect((await stub.openHolds("a", 10)).map((h) => h.hold_id)).toEqual(["c"]);
    expect((await stub.openHolds("", 10))[0]!.touched_at).toBeGreaterThan(Date.now() - 60_000);
    expect(await stub.release({ opId: "idle-a", holdId: "a", amount: "rest", actor: "t", idleMs: 60_000 })).toMatchObject({ ok: false, code: "hold_busy" });
    await runInDurableObject(stub, (_p, state) => void state.storage.sql.exec("UPDATE holds SET touched_at = ? WHERE hold_id = 'a'", Date.now() - 120_000));
    expect(await stub.release({ opId: "idle-a2", holdId: "a", amount: "rest", actor: "t", idleMs: 60_000 })).toMatchObject({ ok: true, released: 100 });
  });

  it("refuses a fund that would take the funded total past 2^53−1 and moves nothing", async () => {
    const { stub, ready } = freshPool();
    await ready;
    await stub.fund({ opId: "f1", amount: Number.MAX_SAFE_INTEGER - 5, actor: "t" });
    expect(await stub.fund({ opId: "f2", amount: 6, actor: "t" })).toMatchObject({ ok: false, code: "amount_too_large" });
    expect(await stub.fund({ opId: "f3", amount: 5, actor: "t" })).toMatchObject({ ok: true, balance: { funded: Number.MAX_SAFE_INTEGER } });
    expect((await stub.checkIntegrity()).problems).toEqual([]);
  });
});
