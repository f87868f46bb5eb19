import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson, uniqueOrg } from "./helpers/api";
import { activeCampaign, campaignSetup, orderPaid, postEvent } from "./helpers/campaign-factories";

describe("campaign rules are compiled when the campaign is saved", () => {
  it("refuses a rule that does not parse with the field's pointer and the error's position", async () => {
    const s = await campaignSetup(uniqueOrg("cr"));
    const res = await callJson("/v1/campaigns", { token: s.tokens.operator, body: s.body({ rules: "event.properties.total >= " }) });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("validation_failed");
    expect(res.body.errors[0]).toMatchObject({ pointer: "/rules", code: "rule_invalid", position: 26 });
  });

  it("refuses a tier whose condition does not type-check, pointing at the tier", async () => {
    const s = await campaignSetup(uniqueOrg("cr"));
    const reward = {
      product_id: s.productId,
      channel: "email",
      tiers: [
        { when: "true", amount: 500 },
        { when: '1 + "a"', amount: 1000 },
      ],
    };
    const res = await callJson("/v1/campaigns", { token: s.tokens.operator, body: s.body({ reward }) });
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatchObject({ pointer: "/reward/tiers/1/when", position: 0 });
  });

  it("refuses an unknown variable and a rule that is not a condition", async () => {
    const s = await campaignSetup(uniqueOrg("cr"));
    const unknown = await callJson("/v1/campaigns", { token: s.tokens.operator, body: s.body({ rules: "order.total > 1" }) });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0].detail).toContain("Unknown variable");
    const notBool = await callJson("/v1/campaigns", { token: s.tokens.operator, body: s.body({ rules: "1 + 2" }) });
    expect(notBool.status).toBe(400);
    const text = await callJson("/v1/campaigns", { token: s.tokens.operator, body: s.body({ rules: "customer.name" }) });
    expect(text.status).toBe(400);
    expect(text.body.errors[0]).toMatchObject({ pointer: "/rules", code: "rule_invalid" });
    const misspelt = await callJson("/v1/campaigns", { token: s.tokens.operator, body: s.body({ rules: "customer.rewards_recieved < 1" }) });
    expect(misspelt.status).toBe(400);
  });

  it("creates a draft with a valid rule and refuses unknown fields", async () => {
    const s = await campaignSetup(uniqueOrg("cr"));
    const ok = await callJson("/v1/campaigns", {
      token: s.tokens.operator,
      body: s.body({ rules: "event.properties.total >= 5000 && customer.country == 'US'" }),
    });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ status: "draft", budget: { amount: 100_000, committed: 0, reserved: 0, remaining: 100_000 } });
    const extra = await callJson("/v1/campaigns", { token: s.tokens.operator, body: { ...s.body(), status: "active" } });
    expect(extra.status).toBe(400);
    const forbidden = await callJson("/v1/campaigns", { token: s.tokens.finance, body: s.body() });
    expect(forbidden.status).toBe(403);
  });
});

describe("trigger kinds other than events", () => {
  it("stores date_attribute, inactivity, schedule and segment_entered triggers, which never fire on posted events", async () => {
    const s = await campaignSetup(uniqueOrg("ct"));
    const segment = await callJson("/v1/segments", { token: s.tokens.operator, body: { name: "Gold", condition: 'customer.attributes.tier == "gold"' } });
    for (const trigger of [
      { kind: "date_attribute", attribute: "birthday" },
      { kind: "inactivity", days: 30 },
      { kind: "schedule", cron: "0 9 * * 1", segment_id: segment.body.id },
      { kind: "segment_entered", segment_id: segment.body.id },
    ]) {
      const res = await callJson("/v1/campaigns", { token: s.tokens.operator, body: s.body({ trigger }) });
      expect(res.status).toBe(201);
      expect(res.body.trigger).toEqual(trigger);
    }
    expect((await callJson("/v1/campaigns", { token: s.tokens.operator, body: s.body({ trigger: { kind: "moon_phase" } }) })).status).toBe(400);
    const listed = await callJson("/v1/campaigns?limit=2", { token: s.tokens.support });
    expect(listed.body.data).toHaveLength(2);
    const next = await callJson(`/v1/campaigns?limit=2&cursor=${listed.body.next_cursor}`, { token: s.tokens.support });
    expect(next.body.data).toHaveLength(2);
    expect((await postEvent(s.tokens.integrator, orderPaid())).body.outcomes).toEqual([]);
  });
});

describe("a bad trigger", () => {
  it("answers 400 with a pointer to the offending field of the shape it is closest to", async () => {
    const s = await campaignSetup(uniqueOrg("ct"));
    const refused = async (trigger: unknown) => {
      const res = await callJson("/v1/campaigns", { token: s.tokens.operator, body: s.body({ trigger }) });
      expect(res.status, JSON.stringify(trigger)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
      return res.body.errors.map((e: { pointer: string; detail: string }) => [e.pointer, e.detail]);
    };
    const [[pointer, detail]] = await refused({ kind: "moon_phase" });
    expect(pointer).toBe("/trigger/kind");
    expect(detail).toContain('"inactivity"');
    expect(await refused({ event: "" })).toEqual([["/trigger/event", "an event type cannot be empty"]]);
    expect((await refused({ kind: "inactivity" })).map((e: string[]) => e[0])).toEqual(["/trigger/days"]);
    expect((await refused({ kind: "inactivity", days: 0 })).map((e: string[]) => e[0])).toEqual(["/trigger/days"]);
    expect((await refused({ kind: "date_attribute", attribute: "9lives" })).map((e: string[]) => e[0])).toEqual(["/trigger/attribute"]);
    expect((await refused({ kind: "schedule", segment_id: "seg_x" })).map((e: string[]) => e[0])).toEqual(["/trigger/cron"]);
    expect((await refused({ event: "order.paid", days: 3 })).map((e: string[]) => e[0])).toEqual(["/trigger/days"]);
    expect((await refused("order.paid")).map((e: string[]) => e[0])).toEqual(["/trigger"]);
  });
});

describe("campaign lifecycle", () => {
  it("activation reserves the budget; 409 insufficient_funds when the pool cannot cover it", async () => {
    const s = await campaignSetup(uniqueOrg("cl"), 50_000);
    const created = await callJson("/v1/campaigns", { token: s.tokens.operator, body: s.body() });
    const refused = await callJson(`/v1/campaigns/${created.body.id}/activate`, { method: "POST", token: s.tokens.finance });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("insufficient_funds");
    const byOperator = await callJson(`/v1/campaigns/${created.body.id}/activate`, { method: "POST", token: s.tokens.operator });
    expect(byOperator.status).toBe(403);
    await callJson(`/v1/pools/${s.poolId}/fund`, { token: s.tokens.finance, body: { amount: 50_000, reference: "more" } });
    const ok = await callJson(`/v1/campaigns/${created.body.id}/activate`, { method: "POST", token: s.tokens.finance });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: "active", budget: { amount: 100_000, reserved: 100_000, committed: 0 } });
    expect(((await s.stub.getBalance()) as any).balance).toMatchObject({ available: 0, reserved: 100_000 });
  });

  it("PATCH works only while draft or paused", async () => {
    const s = await campaignSetup(uniqueOrg("cl"));
    const id = await activeCampaign(s);
    const refused = await callJson(`/v1/campaigns/${id}`, { method: "PATCH", token: s.tokens.operator, body: { name: "New" } });
    expect(refused.status).toBe(409);
    await callJson(`/v1/campaigns/${id}/pause`, { method: "POST", token: s.tokens.operator });
    const ok = await callJson(`/v1/campaigns/${id}`, { method: "PATCH", token: s.tokens.operator, body: { name: "New", rules: "event.properties.total > 0" } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ name: "New", rules: "event.properties.total > 0", status: "paused", paused_reason: "manual" });
    const bad = await callJson(`/v1/campaigns/${id}`, { method: "PATCH", token: s.tokens.operator, body: { rules: "event.(" } });
    expect(bad.status).toBe(400);
  });

  it("pause, resume and end: the rest of the budget goes back to the pool exactly once", async () => {
    const s = await campaignSetup(uniqueOrg("cl"));
    const id = await activeCampaign(s);
    expect((await postEvent(s.tokens.integrator, orderPaid())).body.outcomes[0].outcome).toBe("rewarded");
    expect((await callJson(`/v1/campaigns/${id}/pause`, { method: "POST", token: s.tokens.operator })).body.status).toBe("paused");
    expect((await callJson(`/v1/campaigns/${id}/pause`, { method: "POST", token: s.tokens.operator })).status).toBe(409);
    expect((await callJson(`/v1/campaigns/${id}/resume`, { method: "POST", token: s.tokens.admin })).body.status).toBe("active");
    const ended = await callJson(`/v1/campaigns/${id}/end`, { method: "POST", token: s.tokens.finance });
    expect(ended.status).toBe(200);
    expect(ended.body).toMatchObject({ status: "ended", budget: { committed: 1000, reserved: 0, remaining: 99_000 } });
    const again = await callJson(`/v1/campaigns/${id}/end`, { method: "POST", token: s.tokens.finance });
    expect(again.status).toBe(409);
    expect((await callJson(`/v1/campaigns/${id}/resume`, { method: "POST", token: s.tokens.finance })).status).toBe(409);
    const balance = ((await s.stub.getBalance()) as any).balance;
    expect(balance).toMatchObject({ reserved: 0, committed: 1000, available: 1_000_000 - 1000, released: 99_000 });
    expect((await s.stub.checkIntegrity()).problems).toEqual([]);
    const audit = await env.DB.prepare("SELECT action FROM audit_events WHERE entity_id = ? ORDER BY seq").bind(id).all<{ action: string }>();
    expect(audit.results.map((a) => a.action)).toEqual([
      "campaign.created",
      "campaign.activated",
      "campaign.reward_committed",
      "campaign.paused",
      "campaign.resumed",
      "campaign.ended",
      "campaign.budget_released",
    ]);
  });

  it("a top-up reserves more and lets a budget-paused campaign resume", async () => {
    const s = await campaignSetup(uniqueOrg("cl"));
    const id = await activeCampaign(s, { budget: { amount: 2000 }, owner_email: "owner@example.com" });
    for (let i = 0; i < 2; i++) expect((await postEvent(s.tokens.integrator, orderPaid())).body.outcomes[0].outcome).toBe("rewarded");
    const paused = await callJson(`/v1/campaigns/${id}`, { token: s.tokens.operator });
    expect(paused.body).toMatchObject({ status: "paused", paused_reason: "budget_threshold", budget: { amount: 2000, committed: 2000, remaining: 0 } });
    const mail = await env.DB.prepare('SELECT subject FROM dev_outbox WHERE "to" = ? AND org = ?')
      .bind("owner@example.com", s.org)
      .first<{ subject: string }>();
    expect(mail?.subject).toBe("Campaign paused: Order thanks");
    expect((await callJson(`/v1/campaigns/${id}/resume`, { method: "POST", token: s.tokens.operator })).status).toBe(409);
    const topped = await callJson(`/v1/campaigns/${id}/budget`, { token: s.tokens.finance, body: { amount: 3000 } });
    expect(topped.status).toBe(200);
    expect(topped.body.budget).toMatchObject({ amount: 5000, committed: 2000, reserved: 3000, remaining: 3000 });
    expect((await callJson(`/v1/campaigns/${id}/resume`, { method: "POST", token: s.tokens.operator })).body.status).toBe("active");
    expect((await postEvent(s.tokens.integrator, orderPaid())).body.outcomes[0].outcome).toBe("rewarded");
    const ended = await callJson(`/v1/campaigns/${id}/end`, { method: "POST", token: s.tokens.operator });
    expect(ended.body.budget).toMatchObject({ committed: 3000, reserved: 0 });
    expect(((await s.stub.getBalance()) as any).balance).toMatchObject({ reserved: 0, committed: 3000 });
    expect((await s.stub.checkIntegrity()).problems).toEqual([]);
  });
});
