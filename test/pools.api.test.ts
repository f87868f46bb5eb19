import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { encodeCursor } from "../src/core/pagination";
import { call, callJson, token, uniqueOrg } from "./helpers/api";
import { createPool } from "./helpers/factories";

describe("funding pools API", () => {
  it("creates a pool with a zero balance and shows it to any org role", async () => {
    const org = uniqueOrg();
    const admin = await token({ org, roles: ["admin"] });
    const created = await callJson("/v1/pools", { token: admin, body: { name: "Q4", currency: "EUR", limits: { max_hold_amount: 500000 } } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: "Q4", currency: "EUR", limits: { max_hold_amount: 500000 } });
    expect(created.body.id).toMatch(/^pool_/);
    expect(created.body.balance).toEqual({ available: 0, reserved: 0, committed: 0, funded: 0, released: 0, reversed: 0, withdrawn: 0 });

    const support = await token({ org, roles: ["support"] });
    const got = await callJson(`/v1/pools/${created.body.id}`, { token: support });
    expect(got.status).toBe(200);
    const list = await callJson("/v1/pools", { token: support });
    expect(list.body.data.map((p: any) => p.id)).toEqual([created.body.id]);
  });

  it("funds and withdraws, and the ledger shows each entry with before and after", async () => {
    const org = uniqueOrg();
    const { id, finance } = await createPool(org, { fund: 10_000 });
    const w = await callJson(`/v1/pools/${id}/withdraw`, { token: finance, body: { amount: 2_500, reference: "refund" } });
    expect(w.status).toBe(200);
    expect(w.body.balance).toMatchObject({ available: 7_500, funded: 10_000, withdrawn: 2_500 });
    // API.md: "→ 200 balance": the buckets are also at the top level of the answer.
    expect(w.body).toMatchObject({ id, available: 7_500, funded: 10_000, withdrawn: 2_500, reserved: 0, committed: 0 });

    const ledger = await callJson(`/v1/pools/${id}/ledger`, { token: finance });
    expect(ledger.status).toBe(200);
    expect(ledger.body.data).toHaveLength(2);
    const [withdrawal, funding] = ledger.body.data;
    expect(withdrawal).toMatchObject({ kind: "withdraw", amount: 2_500, reference: "refund", before: { available: 10_000 }, after: { available: 7_500 } });
    expect(funding).toMatchObject({ kind: "fund", amount: 10_000, before: { available: 0 }, after: { available: 10_000 } });

    const auditor = await token({ org, roles: ["auditor"] });
    const page1 = await callJson(`/v1/pools/${id}/ledger?limit=1`, { token: auditor });
    expect(page1.body.data[0].kind).toBe("withdraw");
    const page2 = await callJson(`/v1/pools/${id}/ledger?limit=1&cursor=${page1.body.next_cursor}`, { token: auditor });
    expect(page2.body.data[0].kind).toBe("fund");
    expect(page2.body.next_cursor).toBeNull();
    // A made-up seq 0 and a recipients-list cursor are not this list's cursors.
    for (const cursor of [btoa("0"), encodeCursor("ledger", 0), encodeCursor("row", 1)]) {
      const refused = await callJson(`/v1/pools/${id}/ledger?cursor=${encodeURIComponent(cursor)}`, { token: auditor });
      expect([refused.status, refused.body.errors?.[0]?.parameter], cursor).toEqual([400, "cursor"]);
    }
  });

  it("refuses to withdraw more than is available", async () => {
    const org = uniqueOrg();
    const { id, finance } = await createPool(org, { fund: 1_000 });
    const res = await callJson(`/v1/pools/${id}/withdraw`, { token: finance, body: { amount: 1_001 } });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("insufficient_funds");
    const pool = await callJson(`/v1/pools/${id}`, { token: finance });
    expect(pool.body.balance.available).toBe(1_000);
  });

  it.each([
    ["negative", -5, "validation_failed"],
    ["zero", 0, "validation_failed"],
    ["fractional", 10.5, "validation_failed"],
    ["a string", "100", "validation_failed"],
    ["beyond 2^53-1", 2 ** 53, "amount_too_large"],
    ["null", null, "validation_failed"],
  ])("refuses an amount that is %s with 400 and no journal entry", async (_name, amount, code) => {
    const org = uniqueOrg();
    const { id, finance } = await createPool(org);
    const res = await callJson(`/v1/pools/${id}/fund`, { token: finance, body: { amount } });
    expect(res.status).toBe(400);
    expect(res.res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.body.code).toBe(code);
    expect(res.body.errors[0].pointer).toBe("/amount");
    const ledger = await callJson(`/v1/pools/${id}/ledger`, { token: finance });
    expect(ledger.body.data).toEqual([]);
  });

  it("refuses unknown fields and a currency other than the pool's", async () => {
    const org = uniqueOrg();
    const { id, finance } = await createPool(org);
    const extra = await callJson(`/v1/pools/${id}/fund`, { token: finance, body: { amount: 5, balance: 1e9 } });
    expect(extra.status).toBe(400);
    expect(extra.body.errors[0]).toMatchObject({ code: "unrecognized_keys", pointer: "/balance" });
    const wrong = await callJson(`/v1/pools/${id}/fund`, { token: finance, body: { amount: 5, currency: "EUR" } });
    expect(wrong.status).toBe(400);
    expect(wrong.body.errors[0]).toMatchObject({ pointer: "/currency", code: "currency_mismatch" });
    // A pool's currency is an ISO 4217 code, as a product's is: "XXX" passes a three-letter check but is no currency to pay in.
    const notIso = await callJson("/v1/pools", { token: finance, body: { name: "x", currency: "XXX" } });
    expect(notIso.status).toBe(400);
    expect(notIso.body.errors[0]).toMatchObject({ pointer: "/currency" });
  });

  it("lets only finance fund or withdraw, and only finance/auditor read the ledger", async () => {
    const org = uniqueOrg();
    const { id } = await createPool(org);
    for (const role of ["operator", "admin", "support", "owner", "integrator"]) {
      const t = await token({ org, roles: [role] });
      expect((await call(`/v1/pools/${id}/fund`, { token: t, body: { amount: 100 } })).status).toBe(403);
      expect((await call(`/v1/pools/${id}/withdraw`, { token: t, body: { amount: 100 } })).status).toBe(403);
      expect((await call(`/v1/pools/${id}/ledger`, { token: t })).status).toBe(403);
    }
    const operator = await token({ org, roles: ["operator"] });
    expect((await call("/v1/pools", { token: operator, body: { name: "x", currency: "USD" } })).status).toBe(403);
  });

  it("answers 404 for another org's pool, whatever the role", async () => {
    const { id } = await createPool(uniqueOrg(), { fund: 100 });
    const other = await token({ org: uniqueOrg(), roles: ["finance", "auditor", "admin"] });
    for (const path of [`/v1/pools/${id}`, `/v1/pools/${id}/ledger`]) {
      const res = await callJson(path, { token: other });
      expect(res.status).toBe(404);
      expect(res.body.code).toBe("not_found");
    }
    expect((await call(`/v1/pools/${id}/fund`, { token: other, body: { amount: 5 } })).status).toBe(404);
  });

  it("mirrors the ledger and the balance into D1 for reporting", async () => {
    const org = uniqueOrg();
    const { id, finance } = await createPool(org, { fund: 4_200 });
    await callJson(`/v1/pools/${id}/ledger`, { token: finance }); // drains the journal
    const row = await env.DB.prepare("SELECT available, funded, journal_seq FROM pools WHERE id = ?").bind(id).first();
    expect(row).toEqual({ available: 4_200, funded: 4_200, journal_seq: 1 });
    const entries = await env.DB.prepare("SELECT COUNT(*) AS n FROM pool_ledger WHERE pool_id = ?").bind(id).first<{ n: number }>();
    expect(entries?.n).toBe(1);
  });

  it("writes audit events for creation and funding", async () => {
    const org = uniqueOrg();
    const { id } = await createPool(org, { fund: 300 });
    const { results } = await env.DB.prepare("SELECT action FROM audit_events WHERE org = ? AND entity_id = ? ORDER BY seq").bind(org, id).all();
    expect(results.map((r) => r.action)).toEqual(["pool.created", "pool.funded"]);
  });

  it("answers 400 amount_too_large for a fund past 2^53−1, the amount itself or the total, and changes nothing", async () => {
    const org = uniqueOrg();
    const max = Number.MAX_SAFE_INTEGER;
    const { id, finance } = await createPool(org, { fund: max - 100 });
    for (const amount of [2 ** 53, 1e300, 101]) {
      const res = await callJson(`/v1/pools/${id}/fund`, { token: finance, body: { amount } });
      expect([res.status, res.body.code], String(amount)).toEqual([400, "amount_too_large"]);
      expect(res.res.headers.get("content-type")).toContain("application/problem+json");
    }
    const withdraw = await callJson(`/v1/pools/${id}/withdraw`, { token: finance, body: { amount: 2 ** 53 } });
    expect([withdraw.status, withdraw.body.code]).toEqual([400, "amount_too_large"]);
    expect((await callJson(`/v1/pools/${id}`, { token: finance })).body.balance).toMatchObject({ available: max - 100, funded: max - 100 });
    expect((await callJson(`/v1/pools/${id}/ledger`, { token: finance })).body.data).toHaveLength(1);
    // Up to the bound exactly is fine.
    const last = await callJson(`/v1/pools/${id}/fund`, { token: finance, body: { amount: 100 } });
    expect([last.status, last.body.available]).toEqual([200, max]);
  });

  it("keeps fund operations of two users apart when they send the same Idempotency-Key; one user's retry funds once", async () => {
    const org = uniqueOrg();
    const { id } = await createPool(org);
    const fran = await token({ org, sub: "fran", roles: ["finance"] });
    const fred = await token({ org, sub: "fred", roles: ["finance"] });
    const send = (t: string) =>
      callJson(`/v1/pools/${id}/fund`, { token: t, body: { amount: 1_000, reference: "wire" }, headers: { "idempotency-key": "wire-2026-12" } });
    expect((await send(fran)).status).toBe(200);
    expect((await send(fred)).status).toBe(200);
    const again = await send(fran);
    expect([again.status, again.res.headers.get("idempotent-replayed")]).toEqual([200, "true"]);
    expect((await callJson(`/v1/pools/${id}`, { token: fran })).body.balance).toMatchObject({ funded: 2_000, available: 2_000 });
    const fundings = (await callJson(`/v1/pools/${id}/ledger`, { token: fran })).body.data.filter((e: any) => e.kind === "fund");
    expect(fundings.map((e: any) => e.actor).sort()).toEqual(["fran", "fred"]);
  });
});
