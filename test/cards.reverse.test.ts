import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, callJson, uniqueOrg } from "./helpers/api";
import { seedOf } from "../src/cards/cards.store";
import { cardStubOf, cardTokens, issueCard } from "./helpers/card-factories";
import { approvedBatch, findingsOf, reconcile, sql } from "./helpers/reconciliation-factories";
import { poolBalance, supportTokens } from "./helpers/support-factories";

async function cardOf(deliveryId: string): Promise<string> {
  return (await env.DB.prepare("SELECT card_id FROM deliveries WHERE id = ?").bind(deliveryId).first<{ card_id: string }>())!.card_id;
}

/** A batch approved and delivered on cards, with its delivery ids. */
async function deliveredCards(org: string, recipients: number) {
  const seeded = await approvedBatch(org, { recipients, amount: 2_500, kind: "stored_value", channel: "link" });
  const { results } = await env.DB.prepare("SELECT id FROM deliveries WHERE batch_id = ? ORDER BY id").bind(seeded.batchId).all<{ id: string }>();
  return { ...seeded, ids: results.map((r) => r.id), tokens: await supportTokens(org) };
}

describe("reversing a card", () => {
  it("reverses only the unspent remainder (base and bonus to their pool items), says how much, and reconciles clean", async () => {
    const org = uniqueOrg("cardrev");
    const { ids, tokens, poolId } = await deliveredCards(org, 2);
    const t = await cardTokens(org);
    const cardId = await cardOf(ids[0]!);
    const spent = await callJson("/v1/redemptions", { token: t.integrator, body: { card_id: cardId, amount: 1_000, currency: "USD", reference: "o-1" } });
    expect(spent.status).toBe(201);
    const credited = await callJson(`/v1/cards/${cardId}/credit`, { token: t.finance, body: { amount: 500, pool_id: poolId, reason: "Sorry for the delay" } });
    expect(credited.status).toBe(201);
    const held = await callJson("/v1/redemptions", {
      token: t.integrator,
      body: { card_id: cardId, amount: 200, currency: "USD", reference: "o-2", capture: false },
    });
    expect(held.status).toBe(201);
    const before = (await poolBalance(poolId)) as { available: number; committed: number };

    const res = await callJson(`/v1/deliveries/${ids[0]}/reverse`, { method: "POST", token: tokens.finance, body: { reason: "fraud" } });
    expect(res.status).toBe(200);
    expect(res.body.reversal).toEqual({ amount: 2_000, currency: "USD", card_id: cardId });
    const after = (await poolBalance(poolId)) as { available: number; committed: number };
    expect(after.available - before.available).toBe(2_000);
    expect(before.committed - after.committed).toBe(2_000);
    const card = (await callJson(`/v1/cards/${cardId}`, { token: t.support })).body;
    expect(card).toMatchObject({ status: "reversed", balance: { available: 0, pending: 0, redeemed: 1_000, reversed: 2_000, issued: 2_500, credited: 500 } });
    const hold = (await callJson(`/v1/redemptions?card_id=${cardId}&reference=o-2`, { token: t.auditor })).body.data[0];
    expect(hold.status).toBe("voided");
    expect(
      (await callJson("/v1/redemptions", { token: t.integrator, body: { card_id: cardId, amount: 1, currency: "USD", reference: "o-3" } })).body.code,
    ).toBe("card_reversed");
    expect((await callJson(`/v1/redemptions/${spent.body.id}/refund`, { token: t.finance, body: {} })).body.code).toBe("card_reversed");

    // An untouched card reverses whole, as before.
    const whole = await callJson(`/v1/deliveries/${ids[1]}/reverse`, { method: "POST", token: tokens.finance });
    expect(whole.body.reversal.amount).toBe(2_500);

    const run = await reconcile(org);
    expect(await findingsOf(org, run.id)).toEqual([]);
  });

  it("reissues only a card's unspent base value: a spent card is never paid twice, and a fully spent one is refused", async () => {
    const org = uniqueOrg("cardreiss");
    const { ids, tokens, poolId } = await deliveredCards(org, 2);
    const t = await cardTokens(org);
    const cardId = await cardOf(ids[0]!);
    const redeem = (card: string, amount: number, reference: string) =>
      callJson("/v1/redemptions", { token: t.integrator, body: { card_id: card, amount, currency: "USD", reference } });
    expect((await redeem(cardId, 1_000, "o-1")).status).toBe(201);
    expect((await callJson(`/v1/cards/${cardId}/credit`, { token: t.finance, body: { amount: 500, pool_id: poolId, reason: "Sorry" } })).status).toBe(201);
    const before = (await poolBalance(poolId)) as { available: number; committed: number };

    const res = await callJson(`/v1/deliveries/${ids[0]}/reissue`, { method: "POST", token: tokens.operator, body: { reason: "card stolen" } });
    expect(res.status).toBe(201);
    expect(res.body.delivery).toMatchObject({ status: "delivered", reissue_of: ids[0], amount: { amount: 1_500, currency: "USD" } });
    const fresh = await cardOf(res.body.delivery.id);
    expect((await callJson(`/v1/cards/${fresh}`, { token: t.support })).body).toMatchObject({ status: "active", balance: { available: 1_500 } });
    expect((await callJson(`/v1/cards/${cardId}`, { token: t.support })).body).toMatchObject({
      status: "reversed",
      balance: { available: 0, redeemed: 1_000, reversed: 2_000 },
    });
    // The bonus went back to its pool; the base stays committed (1,000 spent on the old card, 1,500 on the new).
    const after = (await poolBalance(poolId)) as { available: number; committed: number };
    expect(after.available - before.available).toBe(500);
    expect(before.committed - after.committed).toBe(500);
    expect((await redeem(fresh, 1_501, "o-2")).body).toMatchObject({ code: "insufficient_balance", available: 1_500 });
    expect((await redeem(cardId, 1, "o-3")).body.code).toBe("card_reversed");

    // A card spent to the last cent has nothing to reissue: refused, nothing changes.
    const other = await cardOf(ids[1]!);
    expect((await redeem(other, 2_500, "o-4")).status).toBe(201);
    const refused = await callJson(`/v1/deliveries/${ids[1]}/reissue`, { method: "POST", token: tokens.operator, body: { reason: "lost" } });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: "nothing_to_reissue", card_id: other });
    expect((await callJson(`/v1/deliveries/${ids[1]}`, { token: tokens.support })).body).toMatchObject({ status: "delivered", reissues: [] });
    expect(await poolBalance(poolId)).toEqual(after);

    // The new card, partly spent, reversed: only its unspent rest goes back to the pool.
    expect((await redeem(fresh, 300, "o-5")).status).toBe(201);
    const reversed = await callJson(`/v1/deliveries/${res.body.delivery.id}/reverse`, { method: "POST", token: tokens.finance, body: { reason: "fraud" } });
    expect(reversed.body.reversal).toEqual({ amount: 1_200, currency: "USD", card_id: fresh });
    expect(((await poolBalance(poolId)) as { available: number }).available - after.available).toBe(1_200);

    const run = await reconcile(org);
    expect(await findingsOf(org, run.id)).toEqual([]);
  });

  it("refuses a reissue whose card has only bonus left without touching it, and finishes a reissue or reverse whose card already ended", async () => {
    const org = uniqueOrg("cardreiss2");
    const { ids, tokens, poolId } = await deliveredCards(org, 3);
    const t = await cardTokens(org);
    const redeem = (card: string, amount: number, reference: string) =>
      callJson("/v1/redemptions", { token: t.integrator, body: { card_id: card, amount, currency: "USD", reference } });
    // Base spent, a bonus left: nothing to reissue, and the card keeps its bonus.
    const spent = await cardOf(ids[0]!);
    expect((await callJson(`/v1/cards/${spent}/credit`, { token: t.finance, body: { amount: 700, pool_id: poolId, reason: "Sorry" } })).status).toBe(201);
    expect((await redeem(spent, 2_500, "o-1")).status).toBe(201);
    const before = await poolBalance(poolId);
    const refused = await callJson(`/v1/deliveries/${ids[0]}/reissue`, { method: "POST", token: tokens.operator, body: { reason: "lost" } });
    expect(refused.body.code).toBe("nothing_to_reissue");
    expect((await callJson(`/v1/cards/${spent}`, { token: t.support })).body).toMatchObject({ status: "active", balance: { available: 700 } });
    expect(await poolBalance(poolId)).toEqual(before);

    // A reissue that ended the card but failed before its D1 write (simulated: the card's end alone, under the delivery's operation id).
    const end = async (deliveryId: string) => {
      const cardId = await cardOf(deliveryId);
      const row = await env.DB.prepare("SELECT * FROM cards WHERE id = ?").bind(cardId).first<any>();
      const r = await cardStubOf(cardId).reverse(seedOf(row), { opId: `reverse:${deliveryId}`, actor: "otto", reference: `reissue of delivery ${deliveryId}` });
      expect(r.ok).toBe(true);
      return cardId;
    };
    await redeem(await cardOf(ids[1]!), 400, "o-2");
    await end(ids[1]!);
    const again = await callJson(`/v1/deliveries/${ids[1]}/reissue`, { method: "POST", token: tokens.operator, body: { reason: "lost" } });
    expect(again.status).toBe(201);
    expect(again.body.delivery.amount).toEqual({ amount: 2_100, currency: "USD" });
    // ... or undone into the pool by a reverse, which finds the same unspent value.
    await redeem(await cardOf(ids[2]!), 500, "o-3");
    await end(ids[2]!);
    const mid = await poolBalance(poolId);
    const reversed = await callJson(`/v1/deliveries/${ids[2]}/reverse`, { method: "POST", token: tokens.finance, body: { reason: "fraud" } });
    expect(reversed.body.reversal.amount).toBe(2_000);
    expect((await poolBalance(poolId)).available! - mid.available!).toBe(2_000);

    const run = await reconcile(org);
    expect(await findingsOf(org, run.id)).toEqual([]);
  });

  it("reports a card whose balance does not add up", async () => {
    const org = uniqueOrg("carddrift");
    const { ids } = await deliveredCards(org, 1);
    const cardId = await cardOf(ids[0]!);
    await sql("UPDATE cards SET available = available + 100 WHERE id = ?", cardId);
    const run = await reconcile(org);
    const findings = await findingsOf(org, run.id);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ kind: "ledger_drift", entity_type: "card", entity_id: cardId, expected: 2_500, actual: 2_600 });
  });

  it("compares every card that has a ledger with it and with its D1 trail, and what the pool commits for cards with what they received", async () => {
    const org = uniqueOrg("cardledger");
    const { ids, poolId } = await deliveredCards(org, 3);
    const t = await cardTokens(org);
    const [a, b, c] = await Promise.all(ids.map(cardOf));
    for (const id of [a, b, c]) {
      const r = await callJson("/v1/redemptions", { token: t.integrator, body: { card_id: id, amount: 400, currency: "USD", reference: "o-1" } });
      expect(r.status).toBe(201);
    }
    await callJson(`/v1/cards/${c}/credit`, { token: t.finance, body: { amount: 300, pool_id: poolId, reason: "Goodwill" } });
    expect(await findingsOf(org, (await reconcile(org)).id)).toEqual([]);

    // a: the mirror edited so that it still adds up (only the ledger can tell); b: a flush's trail row deleted;
    // c: the card's credits no longer what its pool committed for it.
    await sql("UPDATE cards SET available = available + 400, redeemed = redeemed - 400 WHERE id = ?", a);
    await sql("DELETE FROM card_audit WHERE card_id = ? AND seq = (SELECT MAX(seq) FROM card_audit WHERE card_id = ?)", b, b);
    await sql(`UPDATE cards SET credits = json_replace(credits, '$[0].committed', 200) WHERE id = ?`, c);
    const run = await reconcile(org);
    const found = await findingsOf(org, run.id);
    const byEntity = new Map(found.map((f) => [f.entity_id, f]));
    expect(byEntity.get(a)).toMatchObject({ kind: "ledger_drift", entity_type: "card", expected: 2_100, actual: 2_500, data: { check: "card_vs_ledger" } });
    expect(byEntity.get(a).detail).toContain("redeemed is 0 in D1, 400 in the ledger");
    expect(byEntity.get(b)).toMatchObject({ kind: "ledger_drift", data: { check: "card_vs_ledger", trail_seq: null, mirror_seq: 2 } });
    expect(byEntity.get(b).detail).toContain("its D1 audit trail ends at transaction 0, the card row says 2");
    expect(byEntity.get(poolId)).toMatchObject({ kind: "ledger_drift", entity_type: "pool", data: { balance: { bucket: "committed_by_deliveries" } } });
    expect(byEntity.get(poolId).detail).toContain("its deliveries");
    // Each finding is an exception to resolve, as for every other check.
    const exceptions = (await callJson("/v1/exceptions?status=open&limit=100", { token: t.finance })).body.data as { entity_id: string }[];
    expect(exceptions.map((e) => e.entity_id)).toEqual(expect.arrayContaining([a, b, poolId]));
  });

  it("shows the live balance and what expires when on the claim page", async () => {
    const org = uniqueOrg("cardclaim");
    const { ids, tokens } = await deliveredCards(org, 1);
    const t = await cardTokens(org);
    const cardId = await cardOf(ids[0]!);
    await callJson("/v1/redemptions", { token: t.integrator, body: { card_id: cardId, amount: 1_000, currency: "USD", reference: "o-1" } });
    await callJson("/v1/redemptions", { token: t.integrator, body: { card_id: cardId, amount: 300, currency: "USD", reference: "o-2", capture: false } });
    const claimUrl = (await callJson(`/v1/deliveries/${ids[0]}`, { token: tokens.integrator })).body.claim_url as string;
    const html = await (await call(new URL(claimUrl).pathname)).text();
    expect(html).toContain("Balance: <strong>$12.00</strong>");
    expect(html).toContain("$3.00 on hold");
    expect(html).toMatch(/\$12\.00 (valid until \d{4}-\d\d-\d\d|does not expire)/);
  });

  it("starts a card that D1 voided before its ledger existed as reversed", async () => {
    const org = uniqueOrg("cardvoid");
    const t = await cardTokens(org);
    const { cardId } = await issueCard(org, 700);
    await sql("UPDATE cards SET status = 'void' WHERE id = ?", cardId);
    const card = (await callJson(`/v1/cards/${cardId}`, { token: t.support })).body;
    expect(card).toMatchObject({ status: "reversed", balance: { available: 0, reversed: 700, issued: 700 } });
    const r = await callJson("/v1/redemptions", { token: t.integrator, body: { card_id: cardId, amount: 1, currency: "USD", reference: "x" } });
    expect(r.body.code).toBe("card_reversed");
  });
});
