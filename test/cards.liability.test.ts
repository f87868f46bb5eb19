import { describe, expect, it } from "vitest";
import { LIABILITY_CSV_HEADER } from "../src/cards/liability";
import { call, callJson, uniqueOrg } from "./helpers/api";
import { cardTokens, issueCard } from "./helpers/card-factories";

describe("liability report", () => {
  it("adds up what cards owe by currency and product, with ageing, as JSON and CSV", async () => {
    const org = uniqueOrg("liab");
    const t = await cardTokens(org);
    const a = await issueCard(org, 5_000, { productId: "prd_a" });
    const b = await issueCard(org, 3_000, { productId: "prd_b" });
    const old = await issueCard(org, 2_000, { productId: "prd_b", expiresAt: new Date(Date.now() - 1_000).toISOString() });
    await callJson("/v1/redemptions", { token: t.integrator, body: { card_id: a.cardId, amount: 1_000, currency: "USD", reference: "r1" } });
    await callJson("/v1/redemptions", { token: t.integrator, body: { card_id: b.cardId, amount: 500, currency: "USD", reference: "r2", capture: false } });
    await callJson(`/v1/cards/${old.cardId}`, { token: t.support });

    const res = await callJson("/v1/reports/liability", { token: t.finance });
    expect(res.status).toBe(200);
    const totals = { issued: 10_000, credited: 0, redeemed: 1_000, pending: 500, available: 6_500, expired: 2_000, reversed: 0, outstanding: 7_000 };
    expect(res.body.by_currency).toEqual([{ key: null, currency: "USD", cards: 3, ...totals }]);
    const { issued, credited, redeemed, pending, available, expired, reversed, outstanding } = totals;
    expect(issued + credited).toBe(redeemed + pending + available + expired + reversed);
    expect(outstanding).toBe(available + pending);
    expect(res.body.by_product).toEqual([
      {
        key: "prd_a",
        currency: "USD",
        cards: 1,
        issued: 5_000,
        credited: 0,
        redeemed: 1_000,
        pending: 0,
        available: 4_000,
        expired: 0,
        reversed: 0,
        outstanding: 4_000,
      },
      {
        key: "prd_b",
        currency: "USD",
        cards: 2,
        issued: 5_000,
        credited: 0,
        redeemed: 0,
        pending: 500,
        available: 2_500,
        expired: 2_000,
        reversed: 0,
        outstanding: 3_000,
      },
    ]);
    expect(res.body.ageing).toEqual([{ bucket: "0-30d", currency: "USD", cards: 2, outstanding: 7_000 }]);

    const csv = await call("/v1/reports/liability", { token: t.auditor, headers: { accept: "text/csv" } });
    expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
    const lines = (await csv.text()).trim().split("\r\n");
    expect(lines[0]).toBe(LIABILITY_CSV_HEADER);
    expect(lines).toContain("currency,all,USD,3,10000,0,1000,500,6500,2000,0,7000");
    expect(lines).toContain("ageing,0-30d,USD,2,,,,,,,,7000");
    expect((await call("/v1/reports/liability", { token: t.operator })).status).toBe(403);
  });
});
