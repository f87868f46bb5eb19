import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { trailKinds, verifyCardTrail } from "../src/cards/card-audit";
import { expireDueCards } from "../src/cards/expiry";
import { runCron } from "../src/cron";
import { callJson, uniqueOrg } from "./helpers/api";
import { cardStubOf, cardTokens, issueCard, sleep } from "./helpers/card-factories";
import { createPool } from "./helpers/factories";
import { auditActions, poolBalance } from "./helpers/support-factories";

const credit = (cardId: string, tok: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  callJson(`/v1/cards/${cardId}/credit`, { token: tok, body, headers });

describe("bonus credits", () => {
  it("commits bonus value from the pool once per credit, spends it first, and lets it expire as breakage", async () => {
    const org = uniqueOrg();
    const t = await cardTokens(org);
    const pool = await createPool(org, { fund: 100_000 });
    const { cardId } = await issueCard(org, 5_000);
    const expiresAt = new Date(Date.now() + 1_500).toISOString();
    const body = { amount: 2_000, pool_id: pool.id, expires_at: expiresAt, reason: "Loyalty bonus" };
    const first = await credit(cardId, t.finance, body, { "idempotency-key": "bonus-1" });
    expect(first.status).toBe(201);
    expect(first.body.balance).toMatchObject({ available: 7_000, issued: 5_000, credited: 2_000 });
    expect(first.body.buckets).toHaveLength(2);
    // A retry (the stored answer, and the operation ids underneath) pays nothing twice.
    const again = await credit(cardId, t.finance, body, { "idempotency-key": "bonus-1" });
    expect(again.body.credit.id).toBe(first.body.credit.id);
    expect(await poolBalance(pool.id)).toMatchObject({ committed: 2_000, available: 98_000 });

    // The bonus expires first, so it is spent first.
    const r = await callJson("/v1/redemptions", { token: t.integrator, body: { card_id: cardId, amount: 1_500, currency: "USD", reference: "o-1" } });
    expect(r.body.card.balance.available).toBe(5_500);
    const detail = (await callJson(`/v1/cards/${cardId}`, { token: t.support })).body;
    expect(detail.buckets.find((b: { kind: string }) => b.kind === "bonus")).toMatchObject({ remaining: 500 });
    expect(detail.buckets.find((b: { kind: string }) => b.kind === "base")).toMatchObject({ remaining: 5_000 });

    // The alarm expires the rest of the bonus without anyone touching the card; the pool keeps it committed.
    await sleep(1_700);
    await runDurableObjectAlarm(cardStubOf(cardId));
    const row = await env.DB.prepare("SELECT available, expired, status FROM cards WHERE id = ?").bind(cardId).first();
    expect(row).toEqual({ available: 5_000, expired: 500, status: "active" });
    expect(await poolBalance(pool.id)).toMatchObject({ committed: 2_000 });
    // A refund of value whose bucket has expired since is breakage too.
    const refund = await callJson(`/v1/redemptions/${r.body.id}/refund`, { token: t.finance, body: {} });
    expect(refund.body.card.balance).toMatchObject({ available: 5_000, expired: 2_000, redeemed: 0 });
    // Every transaction is in the card's own trail; the org's chain has what people decided (the credit).
    expect(await trailKinds(env.DB, cardId)).toEqual(["issue", "credit", "redeem", "expire", "refund"]);
    expect((await verifyCardTrail(env.DB, org, cardId)).valid).toBe(true);
    expect(await auditActions(org, cardId)).toEqual(["card.credited"]);
  });

  it("refuses credits the card or the pool cannot take", async () => {
    const org = uniqueOrg();
    const t = await cardTokens(org);
    const pool = await createPool(org, { fund: 1_000 });
    const eur = await createPool(org, { currency: "EUR", fund: 1_000 });
    const { cardId } = await issueCard(org, 5_000);
    expect((await credit(cardId, t.finance, { amount: 5_000, pool_id: pool.id, reason: "x" })).body.code).toBe("insufficient_funds");
    expect((await credit(cardId, t.finance, { amount: 100, pool_id: eur.id, reason: "x" })).body.code).toBe("currency_mismatch");
    expect((await credit(cardId, t.support, { amount: 100, pool_id: pool.id, reason: "x" })).status).toBe(403);
    const old = await issueCard(org, 500, { expiresAt: new Date(Date.now() - 1_000).toISOString() });
    expect((await credit(old.cardId, t.finance, { amount: 100, pool_id: pool.id, reason: "x" })).body.code).toBe("card_expired");
    expect(await poolBalance(pool.id)).toMatchObject({ available: 1_000, committed: 0, reserved: 0 });
  });
});

describe("expiry", () => {
  it("expires a card nobody touched through the cron, exactly once", async () => {
    const org = uniqueOrg();
    const t = await cardTokens(org);
    const past = new Date(Date.now() - 3_600_000).toISOString();
    const { cardId } = await issueCard(org, 3_000, { expiresAt: past });
    const live = await issueCard(org, 3_000, { expiresAt: new Date(Date.now() + 86_400_000).toISOString() });
    const outcome = await runCron(env, "*/5 * * * *", new Date());
    expect(outcome["cards.expire"]).toBe("ok");
    const row = await env.DB.prepare("SELECT status, available, expired FROM cards WHERE id = ?").bind(cardId).first();
    expect(row).toEqual({ status: "expired", available: 0, expired: 3_000 });
    expect((await env.DB.prepare("SELECT status FROM cards WHERE id = ?").bind(live.cardId).first())?.status).toBe("active");
    await expireDueCards(env, new Date());
    const txns = (await callJson(`/v1/cards/${cardId}/transactions`, { token: t.auditor })).body.data;
    expect(txns.map((x: { kind: string }) => x.kind)).toEqual(["expire", "issue"]);
    const listed = await callJson(`/v1/cards?status=expired`, { token: t.finance });
    expect(listed.body.data.map((c: { id: string }) => c.id)).toEqual([cardId]);
    const soon = encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString());
    expect((await callJson(`/v1/cards?expiring_before=${soon}`, { token: t.support })).body.data.map((c: { id: string }) => c.id)).toEqual([cardId]);
    const inThreeDays = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
    expect((await callJson(`/v1/cards?expiring_before=${inThreeDays}`, { token: t.support })).body.data).toHaveLength(2);
  });

  it("finds cards whose bonus value expires before a time, as long as that value is unspent", async () => {
    const org = uniqueOrg();
    const t = await cardTokens(org);
    const pool = await createPool(org, { fund: 10_000 });
    const { cardId } = await issueCard(org, 1_000); // the card itself never expires
    const plain = await issueCard(org, 1_000);
    const inTwoDays = new Date(Date.now() + 2 * 86_400_000).toISOString();
    expect((await credit(cardId, t.finance, { amount: 300, pool_id: pool.id, expires_at: inTwoDays, reason: "Gone by Friday" })).status).toBe(201);
    const expiring = async (days: number) =>
      (
        await callJson(`/v1/cards?expiring_before=${encodeURIComponent(new Date(Date.now() + days * 86_400_000).toISOString())}`, { token: t.support })
      ).body.data.map((c: { id: string }) => c.id);
    expect(await expiring(3)).toEqual([cardId]);
    expect(await expiring(1)).toEqual([]);
    // Spent first (it expires first), the bonus leaves nothing to lose.
    await callJson("/v1/redemptions", { token: t.integrator, body: { card_id: cardId, amount: 300, currency: "USD", reference: "all-bonus" } });
    expect(await expiring(3)).toEqual([]);
    expect(await expiring(3)).not.toContain(plain.cardId);
  });

  it("voids a pending hold at its expiry through the alarm and gives the value back", async () => {
    const org = uniqueOrg();
    const t = await cardTokens(org);
    const { cardId } = await issueCard(org, 3_000);
    const held = await callJson("/v1/redemptions", {
      token: t.integrator,
      body: { card_id: cardId, amount: 1_000, currency: "USD", reference: "h", capture: false, hold_seconds: 1 },
    });
    expect(held.status).toBe(201);
    await sleep(1_200);
    await runDurableObjectAlarm(cardStubOf(cardId));
    const red = await env.DB.prepare("SELECT status FROM redemptions WHERE org = ? AND id = ?").bind(org, held.body.id).first();
    expect(red?.status).toBe("expired");
    expect(await env.DB.prepare("SELECT available, pending FROM cards WHERE id = ?").bind(cardId).first()).toEqual({ available: 3_000, pending: 0 });
    const cap = await callJson(`/v1/redemptions/${held.body.id}/capture`, { token: t.integrator, body: {} });
    expect(cap.body.code).toBe("redemption_not_pending");
  });
});
