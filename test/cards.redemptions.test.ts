import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { trailKinds, verifyCardTrail } from "../src/cards/card-audit";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { cardStubOf, cardTokens, issueCard, sleep } from "./helpers/card-factories";

const redeem = (tok: string, body: Record<string, unknown>, headers: Record<string, string> = {}) => callJson("/v1/redemptions", { token: tok, body, headers });
const card = (id: string, tok: string) => callJson(`/v1/cards/${id}`, { token: tok });

describe("redemptions at checkout", () => {
  it("captures by code, spends the card and shows the live balance", async () => {
    const org = uniqueOrg();
    const t = await cardTokens(org);
    const { cardId, code } = await issueCard(org, 5_000);
    const r = await redeem(t.integrator, { code, amount: 1_200, currency: "USD", reference: "order-1" });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ status: "captured", amount: 1_200, card: { id: cardId, balance: { available: 3_800, redeemed: 1_200, pending: 0 } } });
    const c = await card(cardId, t.support);
    expect(c.status).toBe(200);
    expect(c.body).toMatchObject({
      status: "active",
      balance: { available: 3_800, redeemed: 1_200, issued: 5_000 },
      buckets: [{ kind: "base", amount: 5_000, remaining: 3_800 }],
    });
    expect(c.body.transactions.map((x: { kind: string }) => x.kind)).toEqual(["redeem", "issue"]);
    const byCard = await callJson(`/v1/redemptions?card_id=${cardId}&reference=order-1`, { token: t.finance });
    expect(byCard.body.data).toHaveLength(1);
    expect(byCard.body.data[0]).toMatchObject({ id: r.body.id, status: "captured", captured: 1_200 });
  });

  it("holds value, captures part of it and gives the rest back; a second capture is refused", async () => {
    const org = uniqueOrg();
    const t = await cardTokens(org);
    const { cardId } = await issueCard(org, 5_000);
    const held = await redeem(t.integrator, { card_id: cardId, amount: 2_000, currency: "USD", reference: "o-2", capture: false, hold_seconds: 600 });
    expect(held.status).toBe(201);
    expect(held.body).toMatchObject({ status: "pending", amount: 2_000, card: { balance: { available: 3_000, pending: 2_000 } } });
    const cap = await callJson(`/v1/redemptions/${held.body.id}/capture`, { token: t.integrator, body: { amount: 1_500 } });
    expect(cap.status).toBe(200);
    expect(cap.body).toMatchObject({ status: "captured", amount: 1_500, card: { balance: { available: 3_500, pending: 0, redeemed: 1_500 } } });
    const again = await callJson(`/v1/redemptions/${held.body.id}/capture`, { token: t.integrator, body: {} });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("redemption_not_pending");
  });

  it("voids a hold, refuses capturing more than held, and refunds captured value in parts", async () => {
    const org = uniqueOrg();
    const t = await cardTokens(org);
    const { cardId } = await issueCard(org, 5_000);
    const held = await redeem(t.integrator, { card_id: cardId, amount: 1_000, currency: "USD", reference: "o-3", capture: false });
    const tooMuch = await callJson(`/v1/redemptions/${held.body.id}/capture`, { token: t.integrator, body: { amount: 1_001 } });
    expect(tooMuch.status).toBe(400);
    expect(tooMuch.body.code).toBe("invalid_amount");
    const voided = await callJson(`/v1/redemptions/${held.body.id}/void`, { token: t.integrator, method: "POST" });
    expect(voided.status).toBe(200);
    expect(voided.body).toMatchObject({ status: "voided", card: { balance: { available: 5_000, pending: 0 } } });
    const voidAgain = await callJson(`/v1/redemptions/${held.body.id}/void`, { token: t.integrator, method: "POST" });
    expect(voidAgain.body.code).toBe("redemption_not_pending");
    const refundHeld = await callJson(`/v1/redemptions/${held.body.id}/refund`, { token: t.finance, body: {} });
    expect(refundHeld.body.code).toBe("redemption_not_captured");

    const spent = await redeem(t.integrator, { card_id: cardId, amount: 3_000, currency: "USD", reference: "o-4" });
    const part = await callJson(`/v1/redemptions/${spent.body.id}/refund`, { token: t.finance, body: { amount: 1_000 } });
    expect(part.body).toMatchObject({ status: "captured", refunded: 1_000, card: { balance: { available: 3_000, redeemed: 2_000 } } });
    const rest = await callJson(`/v1/redemptions/${spent.body.id}/refund`, { token: t.integrator, method: "POST" });
    expect(rest.body).toMatchObject({ status: "refunded", refunded: 3_000, card: { balance: { available: 5_000, redeemed: 0 } } });
    const over = await callJson(`/v1/redemptions/${spent.body.id}/refund`, { token: t.integrator, body: { amount: 1 } });
    expect(over.body.code).toBe("redemption_not_captured");
  });

  it("answers every refusal with its problem code", async () => {
    const org = uniqueOrg();
    const t = await cardTokens(org);
    const { cardId, code } = await issueCard(org, 1_000);
    const short = await redeem(t.integrator, { card_id: cardId, amount: 1_500, currency: "USD", reference: "a" });
    expect(short.status).toBe(409);
    expect(short.body).toMatchObject({ code: "insufficient_balance", available: 1_000 });
    const partial = await redeem(t.integrator, { card_id: cardId, amount: 1_500, currency: "USD", reference: "b", allow_partial: true });
    expect(partial.body).toMatchObject({ status: "captured", amount: 1_000, requested: 1_500, card: { status: "exhausted" } });
    const empty = await redeem(t.integrator, { card_id: cardId, amount: 1, currency: "USD", reference: "c", allow_partial: true });
    expect(empty.body).toMatchObject({ code: "insufficient_balance", available: 0 });
    const dup = await redeem(t.integrator, { card_id: cardId, amount: 1, currency: "USD", reference: "b" });
    expect(dup.status).toBe(409);
    expect(dup.body).toMatchObject({ code: "duplicate_reference", redemption_id: partial.body.id });

    const other = await issueCard(org, 1_000);
    const currency = await redeem(t.integrator, { code: other.code, amount: 10, currency: "EUR", reference: "d" });
    expect(currency.status).toBe(400);
    expect(currency.body.code).toBe("currency_mismatch");
    expect((await callJson(`/v1/cards/${other.cardId}/freeze`, { token: t.support, body: { reason: "fraud check" } })).body.status).toBe("frozen");
    const frozen = await redeem(t.integrator, { code: other.code, amount: 10, currency: "USD", reference: "e" });
    expect(frozen.status).toBe(409);
    expect(frozen.body.code).toBe("card_frozen");
    expect((await callJson(`/v1/cards/${other.cardId}/unfreeze`, { token: t.finance, method: "POST" })).body.status).toBe("active");
    expect((await redeem(t.integrator, { code: other.code, amount: 10, currency: "USD", reference: "e" })).status).toBe(201);

    const old = await issueCard(org, 1_000, { expiresAt: new Date(Date.now() - 60_000).toISOString() });
    const expired = await redeem(t.integrator, { card_id: old.cardId, amount: 10, currency: "USD", reference: "f" });
    expect(expired.status).toBe(409);
    expect(expired.body.code).toBe("card_expired");
    expect((await card(old.cardId, t.auditor)).body).toMatchObject({ status: "expired", balance: { available: 0, expired: 1_000 } });

    const unknown = await redeem(t.integrator, { code: "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE", amount: 10, currency: "USD", reference: "g" });
    expect(unknown.status).toBe(404);
    expect((await redeem(t.operator, { code, amount: 10, currency: "USD", reference: "h" })).status).toBe(403);
    const both = await redeem(t.integrator, { code, card_id: cardId, amount: 10, currency: "USD", reference: "i" });
    expect(both.status).toBe(400);
    const longHold = await redeem(t.integrator, { card_id: cardId, amount: 1, currency: "USD", reference: "j", capture: false, hold_seconds: 30 * 86_400 + 1 });
    expect(longHold.status).toBe(400);
  });

  it("replays a redemption sent again with the same Idempotency-Key instead of spending twice", async () => {
    const org = uniqueOrg();
    const t = await cardTokens(org);
    const { cardId } = await issueCard(org, 1_000);
    const body = { card_id: cardId, amount: 400, currency: "USD", reference: "idem" };
    const first = await redeem(t.integrator, body, { "idempotency-key": "k-1" });
    const second = await redeem(t.integrator, body, { "idempotency-key": "k-1" });
    expect(second.status).toBe(201);
    expect(second.body.id).toBe(first.body.id);
    expect((await card(cardId, t.support)).body.balance.available).toBe(600);
  });
});

describe("concurrency", () => {
  it("never spends more than the card holds under 200 concurrent redemptions of random amounts", async () => {
    const org = uniqueOrg();
    const t = await cardTokens(org);
    const initial = 50_000;
    const { cardId, code } = await issueCard(org, initial);
    const amounts = Array.from({ length: 200 }, () => 1 + Math.floor(Math.random() * 600));
    const results = await Promise.all(
      amounts.map((amount, i) => redeem(t.integrator, { ...(i % 2 ? { code } : { card_id: cardId }), amount, currency: "USD", reference: `race-${i}` })),
    );
    const ok = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status !== 201);
    for (const r of refused) expect(r.body.code).toBe("insufficient_balance");
    const captured = ok.reduce((s, r) => s + (r.body.amount as number), 0);
    expect(captured).toBeLessThanOrEqual(initial);
    expect(refused.length).toBeGreaterThan(0);
    const live = (await card(cardId, t.support)).body;
    expect(live.balance.available).toBe(initial - captured);
    expect(live.balance.redeemed).toBe(captured);
    expect(await cardStubOf(cardId).checkIntegrity()).toEqual({ ok: true, problem: null });
    // The mirror agrees with the authority once every write has landed.
    await cardStubOf(cardId).syncMirror();
    const row = await env.DB.prepare("SELECT available, redeemed FROM cards WHERE id = ?").bind(cardId).first();
    expect(row).toEqual({ available: initial - captured, redeemed: captured });
    const { results: mirrored } = await env.DB.prepare("SELECT COUNT(*) AS n, SUM(captured) AS s FROM redemptions WHERE card_id = ?").bind(cardId).all();
    expect(mirrored[0]).toEqual({ n: ok.length, s: captured });
  });

  it("resolves a hold exactly once when capture, void and expiry race", async () => {
    const org = uniqueOrg();
    const t = await cardTokens(org);
    const { cardId } = await issueCard(org, 100_000);
    const holds = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        redeem(t.integrator, { card_id: cardId, amount: 1_000, currency: "USD", reference: `hold-${i}`, capture: false, hold_seconds: 1 }),
      ),
    );
    await sleep(900 + Math.random() * 200);
    const outcomes = await Promise.all(
      holds.flatMap((h) => [
        callJson(`/v1/redemptions/${h.body.id}/capture`, { token: t.integrator, body: {} }),
        callJson(`/v1/redemptions/${h.body.id}/void`, { token: t.integrator, method: "POST" }),
      ]),
    );
    await sleep(300);
    const live = (await card(cardId, t.support)).body;
    expect(live.balance.pending).toBe(0);
    const txns = (await callJson(`/v1/cards/${cardId}/transactions?limit=100`, { token: t.auditor })).body.data as { kind: string; redemption_id: string }[];
    let capturedCount = 0;
    for (const h of holds) {
      const ends = txns.filter((x) => x.redemption_id === h.body.id && ["capture", "void", "expire"].includes(x.kind));
      expect(ends).toHaveLength(1);
      if (ends[0]!.kind === "capture") capturedCount++;
    }
    expect(outcomes.filter((o) => o.status === 200)).toHaveLength(holds.length - txns.filter((x) => x.kind === "expire").length);
    for (const o of outcomes.filter((x) => x.status !== 200)) expect(o.body.code).toBe("redemption_not_pending");
    expect(live.balance.redeemed).toBe(capturedCount * 1_000);
    expect(live.balance.available).toBe(100_000 - capturedCount * 1_000);
  });
});

describe("codes stay secret", () => {
  it("finds a card by code in the body, answers unknown and other orgs' codes alike, and never shows the code", async () => {
    const org = uniqueOrg();
    const t = await cardTokens(org);
    const { cardId, code } = await issueCard(org, 2_000);
    const found = await callJson("/v1/cards/lookup", { token: t.integrator, body: { code: code.toLowerCase().replaceAll("-", "") } });
    expect(found.status).toBe(200);
    expect(found.body.id).toBe(cardId);
    const stranger = uniqueOrg();
    const st = await cardTokens(stranger);
    const foreign = await callJson("/v1/cards/lookup", { token: st.support, body: { code } });
    const unknown = await callJson("/v1/cards/lookup", { token: st.support, body: { code: "ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ" } });
    expect(foreign.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect({ ...foreign.body, request_id: undefined }).toEqual({ ...unknown.body, request_id: undefined });
    expect((await callJson("/v1/cards/lookup", { token: t.operator, body: { code } })).status).toBe(403);

    await redeem(t.integrator, { code, amount: 500, currency: "USD", reference: "secret-1", capture: false });
    const bodies = [
      found.body,
      (await callJson(`/v1/cards?limit=50`, { token: t.finance })).body,
      (await callJson(`/v1/cards/${cardId}/transactions`, { token: t.auditor })).body,
      (await callJson(`/v1/redemptions?card_id=${cardId}`, { token: t.auditor })).body,
      (await callJson(`/v1/audit?entity_id=${cardId}`, { token: await (await import("./helpers/api")).token({ org, roles: ["auditor"] }) })).body,
    ];
    const { results: audit } = await env.DB.prepare(
      "SELECT before, after FROM audit_events WHERE org = ?1 UNION ALL SELECT NULL, txns FROM card_audit WHERE org = ?1",
    )
      .bind(org)
      .all();
    const bare = code.replaceAll("-", "");
    for (const text of [...bodies.map((b) => JSON.stringify(b)), JSON.stringify(audit)]) {
      expect(text).not.toContain(code);
      expect(text).not.toContain(bare);
    }
    expect(JSON.stringify(bodies[1])).toContain(cardId);
    expect(audit.length).toBeGreaterThan(0);
  });
});

describe("the card's audit trail", () => {
  it("chains every transaction in D1, one row per flush, and finds an edited, a replaced or a missing row", async () => {
    const org = uniqueOrg();
    const t = await cardTokens(org);
    const { cardId } = await issueCard(org, 2_000);
    for (const ref of ["t-1", "t-2", "t-3"]) await redeem(t.integrator, { card_id: cardId, amount: 100, currency: "USD", reference: ref });
    await callJson(`/v1/cards/${cardId}/freeze`, { token: t.support, body: { reason: "lost" } });
    expect(await trailKinds(env.DB, cardId)).toEqual(["issue", "redeem", "redeem", "redeem", "freeze"]);
    const ok = await verifyCardTrail(env.DB, org, cardId);
    expect(ok).toMatchObject({ valid: true, txns_checked: 5, last_seq: 5, first_break: null });
    // The object's own chain ends where D1's does.
    const head = await cardStubOf(cardId).ledgerHead();
    expect(head).toMatchObject({ seq: 5, head_hash: ok.last_hash, chain_ok: true });
    const listed = (await callJson(`/v1/cards/${cardId}/transactions`, { token: t.auditor })).body.data;
    expect(listed[0]).toMatchObject({ seq: 5, kind: "freeze", hash: ok.last_hash });
    // Only what people decide reaches the org's chain.
    const { results } = await env.DB.prepare("SELECT action FROM audit_events WHERE org = ? AND entity_id = ?").bind(org, cardId).all();
    expect(results).toEqual([{ action: "card.frozen" }]);

    const sql = (q: string, ...args: unknown[]) =>
      env.DB.prepare(q)
        .bind(...args)
        .run();
    await sql(`UPDATE card_audit SET txns = replace(txns, '"amount":100', '"amount":10') WHERE card_id = ? AND seq = 3`, cardId);
    expect((await verifyCardTrail(env.DB, org, cardId)).first_break).toMatchObject({ seq: 3, reason: "hash_mismatch" });
    await sql(`UPDATE card_audit SET txns = replace(txns, '"amount":10', '"amount":100') WHERE card_id = ? AND seq = 3`, cardId);
    expect((await verifyCardTrail(env.DB, org, cardId)).valid).toBe(true);
    await sql("DELETE FROM card_audit WHERE card_id = ? AND seq = 2", cardId);
    expect((await verifyCardTrail(env.DB, org, cardId)).first_break).toMatchObject({ seq: 3, reason: "seq_gap" });
    // The object's history rewritten: its chain no longer recomputes.
    await runInDurableObject(cardStubOf(cardId), (_obj, state: DurableObjectState) => {
      state.storage.sql.exec("UPDATE txns SET reference = 'rewritten' WHERE seq = 2");
    });
    expect(await cardStubOf(cardId).ledgerHead()).toMatchObject({ chain_ok: false });
    expect((await cardStubOf(cardId).checkIntegrity()).problem).toBe("the hash chain breaks at transaction 2");
  });
});

describe("a card object that starts again", () => {
  it("continues the D1 trail where D1 has it (its stored watermark lags the last flush): no gap, no repeated row, each webhook event once", async () => {
    const org = uniqueOrg();
    const t = await cardTokens(org);
    const hook = await callJson("/v1/webhook-endpoints", {
      token: await token({ org, sub: "ada", roles: ["admin"] }),
      body: { url: `https://hooks.example.com/${org}`, events: ["card.redeemed"] },
    });
    expect(hook.status).toBe(201);
    const { cardId } = await issueCard(org, 2_000);
    const stub = cardStubOf(cardId);
    for (const ref of ["r-1", "r-2"]) expect((await redeem(t.integrator, { card_id: cardId, amount: 100, currency: "USD", reference: ref })).status).toBe(201);
    // The watermark is stored with the next transaction, so the object's storage says D1 lacks the last redemption.
    const stored = await runInDurableObject(
      stub,
      (_o, state: DurableObjectState) => state.storage.sql.exec<{ m: number }>("SELECT mirrored_seq AS m FROM card").one().m,
    );
    expect(stored).toBeLessThan(3);
    await evictDurableObject(stub);
    expect((await redeem(t.integrator, { card_id: cardId, amount: 100, currency: "USD", reference: "r-3" })).status).toBe(201);
    expect((await env.DB.prepare("SELECT first_seq, seq FROM card_audit WHERE card_id = ? ORDER BY seq").bind(cardId).all()).results).toEqual([
      { first_seq: 1, seq: 2 },
      { first_seq: 3, seq: 3 },
      { first_seq: 4, seq: 4 },
    ]);
    // A flush that did not reach D1 before the object stopped (its trail row removed here): the next
    // instance's guess is wrong, it asks D1, and the page it sends covers the missing transaction.
    await env.DB.prepare("DELETE FROM card_audit WHERE card_id = ? AND seq = 4").bind(cardId).run();
    const countEvents = async () =>
      (await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_events WHERE org = ? AND type = 'card.redeemed'").bind(org).first<{ n: number }>())?.n;
    expect(await countEvents()).toBe(3);
    await env.DB.prepare("DELETE FROM webhook_events WHERE id = (SELECT id FROM webhook_events WHERE org = ? ORDER BY id DESC LIMIT 1)").bind(org).run();
    await evictDurableObject(stub);
    expect((await redeem(t.integrator, { card_id: cardId, amount: 100, currency: "USD", reference: "r-4" })).status).toBe(201);

    expect(await trailKinds(env.DB, cardId)).toEqual(["issue", "redeem", "redeem", "redeem", "redeem"]);
    expect(await verifyCardTrail(env.DB, org, cardId)).toMatchObject({ valid: true, txns_checked: 5, last_seq: 5, first_break: null });
    expect((await env.DB.prepare("SELECT first_seq, seq FROM card_audit WHERE card_id = ? ORDER BY seq").bind(cardId).all()).results).toEqual([
      { first_seq: 1, seq: 2 },
      { first_seq: 3, seq: 3 },
      { first_seq: 4, seq: 5 },
    ]);
    expect(await countEvents()).toBe(4);
  });
});

describe("the contract", () => {
  it("documents every card and redemption route with its roles, problems and bounded request fields", async () => {
    const doc = (await callJson("/openapi.json")).body;
    const expected: [string, string, string][] = [
      ["get", "/v1/cards", "listCards"],
      ["get", "/v1/cards/{id}", "getCard"],
      ["get", "/v1/cards/{id}/transactions", "cardTransactions"],
      ["post", "/v1/cards/lookup", "lookupCard"],
      ["post", "/v1/cards/{id}/credit", "creditCard"],
      ["post", "/v1/cards/{id}/freeze", "freezeCard"],
      ["post", "/v1/cards/{id}/unfreeze", "unfreezeCard"],
      ["post", "/v1/redemptions", "redeem"],
      ["get", "/v1/redemptions", "listRedemptions"],
      ["post", "/v1/redemptions/{id}/capture", "captureRedemption"],
      ["post", "/v1/redemptions/{id}/void", "voidRedemption"],
      ["post", "/v1/redemptions/{id}/refund", "refundRedemption"],
      ["get", "/v1/reports/liability", "liability"],
    ];
    for (const [method, path, operationId] of expected) {
      const op = doc.paths[path]?.[method];
      expect(op, `${method} ${path}`).toBeDefined();
      expect(op.operationId).toBe(operationId);
      expect(op.security).toEqual([{ bearerAuth: [] }]);
      for (const status of ["401", "403", "429", "500"]) expect(op.responses[status], `${method} ${path} ${status}`).toBeDefined();
    }
    const redeem = doc.components.schemas.Redeem;
    expect(redeem.additionalProperties).toBe(false);
    expect(redeem.properties.code.maxLength).toBe(64);
    expect(redeem.properties.reference.maxLength).toBe(200);
    expect(redeem.properties.hold_seconds.maximum).toBe(30 * 86_400);
    expect(doc.paths["/v1/redemptions"].post.responses["409"]).toBeDefined();
  });
});
