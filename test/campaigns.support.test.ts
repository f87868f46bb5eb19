import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { activeCampaign, campaignSetup, orderPaid, postEvent } from "./helpers/campaign-factories";

async function delivered(ids: string[], timeoutMs = 20_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE id IN (SELECT value FROM json_each(?)) AND status = 'delivered'")
      .bind(JSON.stringify(ids))
      .first<{ n: number }>();
    if (row!.n === ids.length || Date.now() > until) return row!.n;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("campaign rewards in support, reconciliation and reports", () => {
  it("lists a campaign's deliveries, reconciles without findings and reports spend by campaign", async () => {
    const s = await campaignSetup(uniqueOrg("cs"));
    const id = await activeCampaign(s);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await postEvent(s.tokens.integrator, orderPaid())).body.outcomes[0].delivery_id);
    expect(await delivered(ids)).toBe(3);

    const list = await callJson(`/v1/deliveries?campaign_id=${id}`, { token: s.tokens.support });
    expect(list.status).toBe(200);
    expect(list.body.data.map((d: any) => d.id).sort()).toEqual([...ids].sort());
    expect(list.body.data[0]).toMatchObject({ batch_id: null, campaign_id: id, status: "delivered", recipient: { external_id: expect.any(String) } });
    const other = await callJson(`/v1/deliveries?campaign_id=${id}`, { token: await token({ org: uniqueOrg(), roles: ["support"] }) });
    expect(other.body.data).toEqual([]);

    const run = await callJson("/v1/reconciliations", { method: "POST", token: s.tokens.finance });
    expect(run.status).toBe(201);
    expect(run.body.findings).toMatchObject({ total: 0, by_kind: {} });

    const report = await callJson("/v1/reports/summary", { token: s.tokens.finance });
    expect(report.status).toBe(200);
    expect(JSON.stringify(report.body.spend.by_campaign)).toContain(id);
  });

  it("support finds a customer's campaign rewards by email, phone and external id, beside their batch deliveries' search", async () => {
    const s = await campaignSetup(uniqueOrg("cs"));
    const id = await activeCampaign(s);
    const withEmail = (await postEvent(s.tokens.integrator, orderPaid({ external_id: "C-email", email: "Ann.Search+shop@example.com" }))).body.outcomes[0]
      .delivery_id;
    const phoneOnly = await postEvent(s.tokens.integrator, {
      ...orderPaid(),
      customer: { external_id: "C-phone", phone: "+14155550123", country: "US" },
    });
    expect(phoneOnly.body.outcomes[0]).toMatchObject({ outcome: "skipped", reason: "invalid_contact" });
    const sms = await activeCampaign(s, { trigger: { event: "sms.test" }, reward: { product_id: s.productId, channel: "sms", amount: 1000 } });
    const bySms = (
      await postEvent(s.tokens.integrator, { ...orderPaid(), type: "sms.test", customer: { external_id: "C-phone", phone: "+14155550123", country: "US" } })
    ).body.outcomes[0].delivery_id;
    const find = async (q: string) => (await callJson(`/v1/deliveries?${q}`, { token: s.tokens.support })).body.data.map((d: any) => d.id);
    expect(await find("recipient_email=ann.search%40example.com")).toEqual([withEmail]);
    expect(await find("external_id=C-email")).toEqual([withEmail]);
    expect(await find("recipient_phone=%2B14155550123")).toEqual([bySms]);
    expect(await find(`recipient_email=ann.search%40example.com&campaign_id=${id}`)).toEqual([withEmail]);
    expect(await find(`recipient_email=ann.search%40example.com&campaign_id=${sms}`)).toEqual([]);
    expect(await find("recipient_email=nobody%40example.com")).toEqual([]);
    const stranger = await token({ org: uniqueOrg(), roles: ["support"] });
    expect((await callJson("/v1/deliveries?external_id=C-email", { token: stranger })).body.data).toEqual([]);
  });

  it("resends a campaign reward to its customer as a new attempt", async () => {
    const s = await campaignSetup(uniqueOrg("cs"));
    await activeCampaign(s);
    const deliveryId = (await postEvent(s.tokens.integrator, orderPaid({ email: "resend@example.com" }))).body.outcomes[0].delivery_id;
    expect(await delivered([deliveryId])).toBe(1);
    const res = await callJson(`/v1/deliveries/${deliveryId}/resend`, { method: "POST", token: s.tokens.support });
    expect(res.status).toBe(200);
    expect(res.body.delivery.attempts).toHaveLength(2);
  });

  it("finds a campaign's reward cards by the campaign's id and reports their liability under it", async () => {
    const s = await campaignSetup(uniqueOrg("cs"));
    const id = await activeCampaign(s);
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) ids.push((await postEvent(s.tokens.integrator, orderPaid())).body.outcomes[0].delivery_id);
    expect(await delivered(ids)).toBe(2);

    const cards = await callJson(`/v1/cards?campaign_id=${id}`, { token: s.tokens.finance });
    expect(cards.status).toBe(200);
    expect(cards.body.data.map((c: any) => c.delivery_id).sort()).toEqual([...ids].sort());
    expect(cards.body.data[0]).toMatchObject({ batch_id: null, campaign_id: id });
    const elsewhere = await callJson("/v1/cards?campaign_id=cmp_not_this_one", { token: s.tokens.finance });
    expect(elsewhere.body.data).toEqual([]);

    const liability = await callJson("/v1/reports/liability", { token: s.tokens.finance });
    expect(liability.status).toBe(200);
    expect(liability.body.by_campaign).toEqual([expect.objectContaining({ key: id, cards: 2, outstanding: 2000 })]);
  });
});
