import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { createProduct } from "./helpers/batch-factories";
import { activeCampaign, campaignSetup, orderPaid, postEvent } from "./helpers/campaign-factories";
import { findingsOf, reconcile } from "./helpers/reconciliation-factories";
import { poolBalance } from "./helpers/support-factories";

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
    // Campaign rewards count in the run's totals like a batch's deliveries.
    expect(run.body.totals).toEqual([expect.objectContaining({ currency: "USD", planned: 3 * 1000, delivered: 3 * 1000, committed: 3 * 1000 })]);

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
    for (let i = 0; i < 2; i++)
      ids.push((await postEvent(s.tokens.integrator, orderPaid({ email: `Card.${i}+vip@Example.com` }))).body.outcomes[0].delivery_id);
    expect(await delivered(ids)).toBe(2);
    // Support finds a customer's campaign card by their email, as written or normalised.
    const byEmail = await callJson("/v1/cards?recipient_email=card.1@example.com", { token: s.tokens.support });
    expect(byEmail.body.data.map((c: any) => c.delivery_id)).toEqual([ids[1]]);

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

  it("a held campaign reward keeps its value through failed retries and is never paid again outside the budget", async () => {
    const s = await campaignSetup(uniqueOrg("csheld"));
    const codes = await createProduct(s.tokens.admin, { kind: "inventory", min_amount: 100, max_amount: 100_000 });
    const id = await activeCampaign(s, { reward: { product_id: codes, channel: "email", amount: 1000 }, budget: { amount: 1000 } });
    const held = (await postEvent(s.tokens.integrator, orderPaid())).body.outcomes[0].delivery_id as string;
    const operator = await token({ org: s.org, sub: "opal", roles: ["operator", "finance"] });
    const until = Date.now() + 20_000;
    let exc: { id: string } | undefined;
    while (!exc && Date.now() < until) {
      exc = (await callJson("/v1/exceptions?status=open", { token: operator })).body.data.find((e: any) => e.entity_id === held);
      if (!exc) await new Promise((r) => setTimeout(r, 100));
    }
    const pool = () => poolBalance(s.poolId);
    const before = await pool();
    // Still no code: each retry is refused and the reward keeps its committed value (budget not freed).
    for (let i = 0; i < 2; i++) {
      const r = await callJson(`/v1/exceptions/${exc!.id}/resolve`, { method: "POST", token: operator, body: { action: "retry" } });
      expect(r.body.code).toBe("inventory_exhausted");
    }
    expect(await pool()).toEqual(before);
    expect((await callJson(`/v1/campaigns/${id}`, { token: s.tokens.support })).body.budget).toMatchObject({ committed: 1000, remaining: 0 });
    expect((await postEvent(s.tokens.integrator, orderPaid())).body.outcomes[0].outcome).toBe("skipped"); // the budget is spent
    await callJson(`/v1/products/${codes}/codes`, { token: s.tokens.admin, body: { codes: [{ code: "CODE-HELD-0001", amount: 1000 }] } });
    const ok = await callJson(`/v1/exceptions/${exc!.id}/resolve`, { method: "POST", token: operator, body: { action: "retry" } });
    expect(ok.status).toBe(200);
    expect(await delivered([held])).toBe(1);
    expect(await pool()).toEqual(before);
    expect((await s.stub.checkIntegrity()).problems).toEqual([]);
    const run = await reconcile(s.org);
    expect(await findingsOf(s.org, run.id)).toEqual([]);
  });

  it("support retries, cancels and reissues campaign rewards like batch deliveries", async () => {
    const s = await campaignSetup(uniqueOrg("cs"));
    const codes = await createProduct(s.tokens.admin, { kind: "inventory", min_amount: 100, max_amount: 100_000 });
    const id = await activeCampaign(s, { reward: { product_id: codes, channel: "email", amount: 1000 } });
    // No codes yet: both rewards are held and open an exception each.
    const held: string[] = [];
    for (let i = 0; i < 2; i++) held.push((await postEvent(s.tokens.integrator, orderPaid())).body.outcomes[0].delivery_id as string);
    const exceptions = async () => {
      const until = Date.now() + 20_000;
      for (;;) {
        const list = await callJson("/v1/exceptions?status=open", { token: s.tokens.operator });
        const mine = list.body.data.filter((e: any) => held.includes(e.entity_id));
        if (mine.length === 2 || Date.now() > until) return mine as { id: string; entity_id: string }[];
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const open = await exceptions();
    expect(open).toHaveLength(2);
    const up = await callJson(`/v1/products/${codes}/codes`, {
      token: s.tokens.admin,
      body: {
        codes: [
          { code: "CODE-AAAA-0001", amount: 1000 },
          { code: "CODE-AAAA-0002", amount: 1000 },
        ],
      },
    });
    expect(up.status).toBe(201);
    const operator = await token({ org: s.org, sub: "opal", roles: ["operator", "finance"] });
    const retried = open.find((e) => e.entity_id === held[0])!;
    const retry = await callJson(`/v1/exceptions/${retried.id}/resolve`, { method: "POST", token: operator, body: { action: "retry", note: "codes arrived" } });
    expect(retry.status).toBe(200);
    expect(await delivered([held[0]!])).toBe(1);
    const cancelled = open.find((e) => e.entity_id === held[1])!;
    const cancel = await callJson(`/v1/exceptions/${cancelled.id}/resolve`, { method: "POST", token: operator, body: { action: "cancel", note: "not owed" } });
    expect(cancel.status).toBe(200);
    const view = await callJson(`/v1/campaigns/${id}`, { token: s.tokens.support });
    expect(view.body.budget.committed).toBe(1000);
    expect((await s.stub.checkIntegrity()).problems).toEqual([]);
    // A reissue of the delivered reward: a new delivery of the same campaign and event.
    const reissue = await callJson(`/v1/deliveries/${held[0]}/reissue`, { method: "POST", token: operator, body: { reason: "lost the code" } });
    expect(reissue.status).toBe(201);
    const row = await env.DB.prepare("SELECT id, campaign_id, event_id, batch_id FROM deliveries WHERE reissue_of = ?").bind(held[0]).first();
    expect(row).toMatchObject({ campaign_id: id, batch_id: null, event_id: expect.any(String) });
  });
});
