import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson, uniqueOrg } from "./helpers/api";
import { activeCampaign, campaignSetup, orderPaid, postEvent } from "./helpers/campaign-factories";

async function waitForDelivery(id: string, status: string, timeoutMs = 20_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const row = await env.DB.prepare("SELECT status FROM deliveries WHERE id = ?").bind(id).first<{ status: string }>();
    if (row?.status === status || Date.now() > until) return row?.status;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("POST /v1/events", () => {
  it("rewards the customer once and the reward is delivered through the queue", async () => {
    const s = await campaignSetup(uniqueOrg("ev"));
    const id = await activeCampaign(s);
    const event = orderPaid({ email: "ann+shop@example.com" });
    const res = await postEvent(s.tokens.integrator, event);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ id: event.id, outcomes: [{ campaign_id: id, outcome: "rewarded", delivery_id: expect.stringMatching(/^dlv_/) }] });
    const deliveryId = res.body.outcomes[0].delivery_id;
    expect(await waitForDelivery(deliveryId, "delivered")).toBe("delivered");
    const d = await env.DB.prepare("SELECT batch_id, campaign_id, event_id, amount, committed FROM deliveries WHERE id = ?").bind(deliveryId).first();
    expect(d).toEqual({ batch_id: null, campaign_id: id, event_id: event.id, amount: 1000, committed: 1 });
    const mail = await env.DB.prepare('SELECT COUNT(*) AS n FROM dev_outbox WHERE org = ? AND "to" = ?')
      .bind(s.org, "ann+shop@example.com")
      .first<{ n: number }>();
    expect(mail?.n).toBe(1);
    const detail = await callJson(`/v1/deliveries/${deliveryId}`, { token: s.tokens.support });
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ status: "delivered", batch_id: null });
    // The same event again: the same answer, no second reward.
    const again = await postEvent(s.tokens.integrator, event);
    expect(again.body).toEqual(res.body);
    const record = await callJson(`/v1/events/${event.id}`, { token: s.tokens.support });
    expect(record.body).toMatchObject({
      id: event.id,
      status: "done",
      outcomes: [{ campaign_id: id, outcome: "rewarded", amount: 1000, delivery_id: deliveryId }],
    });
    const view = await callJson(`/v1/campaigns/${id}`, { token: s.tokens.support });
    expect(view.body.counts).toMatchObject({ events: 1, matched: 1, rewarded: 1, pending_approval: 0 });
    expect(view.body.budget).toMatchObject({ amount: 100_000, committed: 1000, reserved: 99_000, remaining: 99_000 });
    expect(view.body.spend_by_day).toEqual([{ day: new Date().toISOString().slice(0, 10), amount: 1000, rewards: 1 }]);
  });

  it("pays the first matching tier", async () => {
    const s = await campaignSetup(uniqueOrg("ev"));
    const reward = {
      product_id: s.productId,
      channel: "email",
      tiers: [
        { when: "event.properties.total >= 20000", amount: 3000 },
        { when: "event.properties.total >= 10000", amount: 2000 },
        { when: "event.properties.total >= 5000", amount: 1000 },
      ],
    };
    await activeCampaign(s, { reward });
    const amounts = [];
    for (const total of [25_000, 20_000, 12_000, 5_000, 100]) {
      const r = await postEvent(s.tokens.integrator, orderPaid({ total }));
      const rec = await callJson(`/v1/events/${r.body.id}`, { token: s.tokens.support });
      amounts.push(rec.body.outcomes[0].amount ?? rec.body.outcomes[0].reason);
    }
    expect(amounts).toEqual([3000, 3000, 2000, 1000, "rule_false"]);
  });

  it("answers every skip reason", async () => {
    const s = await campaignSetup(uniqueOrg("ev"));
    const reason = async (event: unknown) => (await postEvent(s.tokens.integrator, event)).body.outcomes.map((o: any) => o.reason ?? o.outcome);
    // rule_false
    const ruled = await activeCampaign(s, { trigger: { event: "rule.test" }, rules: "event.properties.total > 50000" });
    expect(await reason({ ...orderPaid(), type: "rule.test" })).toEqual(["rule_false"]);
    void ruled;
    // campaign_paused, campaign_not_active
    const paused = await activeCampaign(s, { trigger: { event: "paused.test" } });
    await callJson(`/v1/campaigns/${paused}/pause`, { method: "POST", token: s.tokens.operator });
    expect(await reason({ ...orderPaid(), type: "paused.test" })).toEqual(["campaign_paused"]);
    const draft = await callJson("/v1/campaigns", { token: s.tokens.operator, body: s.body({ trigger: { event: "draft.test" } }) });
    expect(draft.status).toBe(201);
    expect(await reason({ ...orderPaid(), type: "draft.test" })).toEqual(["campaign_not_active"]);
    const ended = await activeCampaign(s, { trigger: { event: "ended.test" } });
    await callJson(`/v1/campaigns/${ended}/end`, { method: "POST", token: s.tokens.operator });
    expect(await reason({ ...orderPaid(), type: "ended.test" })).toEqual(["campaign_not_active"]);
    // outside_window
    await activeCampaign(s, { trigger: { event: "window.test" }, starts_at: "2030-01-01T00:00:00Z" });
    expect(await reason({ ...orderPaid(), type: "window.test" })).toEqual(["outside_window"]);
    // invalid_contact, suppressed
    await activeCampaign(s, { trigger: { event: "contact.test" } });
    expect(await reason({ ...orderPaid({ customer: { email: "not-an-email" } }), type: "contact.test" })).toEqual(["invalid_contact"]);
    await callJson("/v1/suppressions", { token: s.tokens.admin, body: { entries: [{ email: "blocked@example.com", reason: "opt-out" }] } });
    expect(await reason({ ...orderPaid({ email: "Blocked+x@example.com" }), type: "contact.test" })).toEqual(["suppressed"]);
    // customer_cap, campaign_cap
    await activeCampaign(s, {
      trigger: { event: "cap.test" },
      limits: { per_customer: { count: 1, period: "day" }, per_campaign: { count: 2, period: "day" } },
    });
    expect(await reason({ ...orderPaid({ external_id: "c1", email: "c1@example.com" }), type: "cap.test" })).toEqual(["rewarded"]);
    expect(await reason({ ...orderPaid({ external_id: "c1-again", email: "C1+promo@example.com" }), type: "cap.test" })).toEqual(["customer_cap"]);
    expect(await reason({ ...orderPaid(), type: "cap.test" })).toEqual(["rewarded"]);
    expect(await reason({ ...orderPaid(), type: "cap.test" })).toEqual(["campaign_cap"]);
    // budget_exhausted: the hold has room for one reward, pause only at 100 % so the second event reaches the pool
    const budget = await activeCampaign(s, { trigger: { event: "budget.test" }, budget: { amount: 1500 } });
    expect(await reason({ ...orderPaid(), type: "budget.test" })).toEqual(["rewarded"]);
    expect(await reason({ ...orderPaid(), type: "budget.test" })).toEqual(["budget_exhausted"]);
    const view = await callJson(`/v1/campaigns/${budget}`, { token: s.tokens.operator });
    expect(view.body).toMatchObject({ status: "paused", paused_reason: "budget_exhausted" });
    expect(view.body.counts.skipped.budget_exhausted).toBe(1);
  });

  it("per-customer caps roll over at the period boundary", async () => {
    const s = await campaignSetup(uniqueOrg("ev"));
    await activeCampaign(s, { limits: { per_customer: { count: 1, period: "day" } } });
    const who = { external_id: "roll", email: "roll@example.com" };
    const outcome = async (at: string) => (await postEvent(s.tokens.integrator, orderPaid({ ...who, occurred_at: at }))).body.outcomes[0].reason ?? "rewarded";
    expect(await outcome("2026-12-06T23:59:59.999Z")).toBe("rewarded");
    expect(await outcome("2026-12-06T12:00:00Z")).toBe("customer_cap");
    expect(await outcome("2026-12-07T00:00:00Z")).toBe("rewarded");
  });

  it("monthly amount caps count amounts, not events", async () => {
    const s = await campaignSetup(uniqueOrg("ev"));
    await activeCampaign(s, { limits: { per_customer: { amount: 2500, period: "month" } } });
    const who = { external_id: "amt", email: "amt@example.com" };
    const outcome = async (at: string) => (await postEvent(s.tokens.integrator, orderPaid({ ...who, occurred_at: at }))).body.outcomes[0].reason ?? "rewarded";
    expect(await outcome("2026-11-03T00:00:00Z")).toBe("rewarded");
    expect(await outcome("2026-11-20T00:00:00Z")).toBe("rewarded");
    expect(await outcome("2026-11-30T23:59:59Z")).toBe("customer_cap");
    expect(await outcome("2026-12-01T00:00:00Z")).toBe("rewarded");
  });
});

describe("events under concurrency", () => {
  it("50 concurrent copies of one event id make one reward and the same answer", async () => {
    const s = await campaignSetup(uniqueOrg("cc"));
    const id = await activeCampaign(s);
    const event = orderPaid();
    const answers = await Promise.all(Array.from({ length: 50 }, () => postEvent(s.tokens.integrator, event)));
    expect(answers.map((a) => a.status)).toEqual(Array(50).fill(202));
    const distinct = new Set(answers.map((a) => JSON.stringify(a.body)));
    expect(distinct.size).toBe(1);
    expect(answers[0]!.body.outcomes[0].outcome).toBe("rewarded");
    const n = await env.DB.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE campaign_id = ?").bind(id).first<{ n: number }>();
    expect(n?.n).toBe(1);
    expect(((await s.stub.getBalance()) as any).balance.committed).toBe(1000);
  }, 60_000);

  it("200 concurrent events against a budget of 20 rewards make exactly 20 rewards and pause the campaign", async () => {
    const s = await campaignSetup(uniqueOrg("cc"));
    const id = await activeCampaign(s, { budget: { amount: 20_000 } });
    const answers = await Promise.all(Array.from({ length: 200 }, () => postEvent(s.tokens.integrator, orderPaid())));
    expect(answers.every((a) => a.status === 202)).toBe(true);
    const outcomes = answers.map((a) => a.body.outcomes[0].reason ?? a.body.outcomes[0].outcome);
    expect(outcomes.filter((o) => o === "rewarded")).toHaveLength(20);
    expect(outcomes.filter((o) => o !== "rewarded").every((o) => o === "budget_exhausted" || o === "campaign_paused")).toBe(true);
    const view = await callJson(`/v1/campaigns/${id}`, { token: s.tokens.operator });
    expect(view.body).toMatchObject({ status: "paused", budget: { committed: 20_000, remaining: 0 }, counts: { rewarded: 20, events: 200 } });
    expect(["budget_threshold", "budget_exhausted"]).toContain(view.body.paused_reason);
    const balance = ((await s.stub.getBalance()) as any).balance;
    expect(balance).toMatchObject({ committed: 20_000, reserved: 0 });
    expect((await s.stub.checkIntegrity()).problems).toEqual([]);
    const n = await env.DB.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE campaign_id = ?").bind(id).first<{ n: number }>();
    expect(n?.n).toBe(20);
  }, 120_000);
});
