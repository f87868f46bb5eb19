/**
 * POST /v1/events/batch evaluates a whole request at once: caps and budget are claimed per campaign
 * in one pool call, in the events' order, and stay exact when requests race.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { activeCampaign, campaignSetup, orderPaid, postEvent } from "./helpers/campaign-factories";

const postBatch = (integrator: string, events: unknown[]) => callJson("/v1/events/batch", { token: integrator, body: { events } });
const reasons = (answer: any) => answer.outcomes.map((o: any) => o.reason ?? o.outcome);

describe("a batch of events", () => {
  it("applies caps in the events' order within one request, per campaign, and records every outcome", async () => {
    const s = await campaignSetup(uniqueOrg("bt"));
    const perCustomer = await activeCampaign(s, { limits: { per_customer: { count: 2, period: "day" } } });
    const perCampaign = await activeCampaign(s, { rules: "event.properties.total >= 5000", limits: { per_campaign: { count: 3, period: "day" } } });
    const ann = { external_id: "ann", email: "ann@example.com" };
    const events = [
      orderPaid({ ...ann, total: 9000 }),
      orderPaid({ ...ann, total: 10 }),
      orderPaid({ ...ann, total: 9000 }),
      orderPaid({ total: 9000 }),
      orderPaid({ total: 9000 }),
    ];
    const res = await postBatch(s.tokens.integrator, events);
    expect(res.status).toBe(202);
    const byCampaign = (id: string) => res.body.data.map((a: any) => reasons({ outcomes: a.outcomes.filter((o: any) => o.campaign_id === id) })[0]);
    // Ann's third event is her third of the day; the second event fails the second campaign's rule.
    expect(byCampaign(perCustomer)).toEqual(["rewarded", "rewarded", "customer_cap", "rewarded", "rewarded"]);
    expect(byCampaign(perCampaign)).toEqual(["rewarded", "rule_false", "rewarded", "rewarded", "campaign_cap"]);
    const deliveries = await env.DB.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE campaign_id IN (?, ?)")
      .bind(perCustomer, perCampaign)
      .first<{ n: number }>();
    expect(deliveries?.n).toBe(7);
    expect(((await s.stub.getBalance()) as any).balance.committed).toBe(7000);
    // Skips have no outcome row but are shown with their detail, and counted.
    const record = await callJson(`/v1/events/${events[4]!.id}`, { token: s.tokens.support });
    expect(record.body.outcomes.find((o: any) => o.campaign_id === perCampaign)).toMatchObject({
      outcome: "skipped",
      reason: "campaign_cap",
      detail: expect.stringContaining("Campaign cap"),
      amount: null,
    });
    const view = await callJson(`/v1/campaigns/${perCampaign}`, { token: s.tokens.support });
    expect(view.body.counts).toMatchObject({ events: 5, matched: 4, rewarded: 3, skipped: { rule_false: 1, campaign_cap: 1 } });
  });

  it("keeps per-customer and per-campaign caps exact when batches race", async () => {
    const s = await campaignSetup(uniqueOrg("bt"));
    const id = await activeCampaign(s, { limits: { per_customer: { count: 3, period: "day" }, per_campaign: { count: 25, period: "day" } } });
    const ann = { external_id: "ann", email: "ann@example.com" };
    // 8 requests at once: each has 4 of Ann's events and 6 of other customers' (80 events, 32 of Ann's).
    const requests = Array.from({ length: 8 }, () => [...Array.from({ length: 4 }, () => orderPaid(ann)), ...Array.from({ length: 6 }, () => orderPaid())]);
    const answers = await Promise.all(requests.map((events) => postBatch(s.tokens.integrator, events)));
    expect(answers.every((a) => a.status === 202)).toBe(true);
    const all = answers.flatMap((a) => a.body.data.map((d: any) => ({ id: d.id, reason: reasons(d)[0] })));
    const annIds = new Set(requests.flatMap((events) => events.slice(0, 4).map((e) => e.id)));
    const rewarded = all.filter((a) => a.reason === "rewarded");
    expect(rewarded).toHaveLength(25);
    expect(rewarded.filter((a) => annIds.has(a.id))).toHaveLength(3);
    expect(all.filter((a) => a.reason !== "rewarded").every((a) => a.reason === "customer_cap" || a.reason === "campaign_cap")).toBe(true);
    const n = await env.DB.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE campaign_id = ?").bind(id).first<{ n: number }>();
    expect(n?.n).toBe(25);
    expect(((await s.stub.getBalance()) as any).balance.committed).toBe(25_000);
    expect((await s.stub.checkIntegrity()).problems).toEqual([]);
    const view = await callJson(`/v1/campaigns/${id}`, { token: s.tokens.support });
    expect(view.body.counts).toMatchObject({ events: 80, rewarded: 25 });
  }, 60_000);

  it("answers copies across racing batches from one evaluation, and an event no campaign listens to at once", async () => {
    const s = await campaignSetup(uniqueOrg("bt"));
    const id = await activeCampaign(s);
    const shared = Array.from({ length: 10 }, () => orderPaid());
    const answers = await Promise.all(Array.from({ length: 4 }, () => postBatch(s.tokens.integrator, [...shared].reverse())));
    const first = JSON.stringify(answers[0]!.body.data.map((d: any) => d).sort((a: any, b: any) => (a.id < b.id ? -1 : 1)));
    for (const a of answers) expect(JSON.stringify(a.body.data.map((d: any) => d).sort((x: any, y: any) => (x.id < y.id ? -1 : 1)))).toBe(first);
    const n = await env.DB.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE campaign_id = ?").bind(id).first<{ n: number }>();
    expect(n?.n).toBe(10);
    const unheard = { ...orderPaid(), type: "nobody.listens" };
    expect((await postEvent(s.tokens.integrator, unheard)).body).toEqual({ id: unheard.id, outcomes: [] });
    const record = await callJson(`/v1/events/${unheard.id}`, { token: s.tokens.support });
    expect(record.body).toMatchObject({ status: "done", outcomes: [] });
  }, 60_000);

  it("a rejected approval stops counting towards the customer's cap", async () => {
    const org = uniqueOrg("bt");
    const s = await campaignSetup(org);
    const approver = await token({ org, sub: "fran2", roles: ["finance"] });
    const id = await activeCampaign(s, { approval: { at_or_above: 1000 }, limits: { per_customer: { count: 1, period: "lifetime" } } });
    const ann = { external_id: "ann", email: "ann@example.com" };
    expect(reasons((await postEvent(s.tokens.integrator, orderPaid(ann))).body)).toEqual(["pending_approval"]);
    expect(reasons((await postEvent(s.tokens.integrator, orderPaid(ann))).body)).toEqual(["customer_cap"]);
    const day = new Date().toISOString().slice(0, 10);
    const rejected = await callJson(`/v1/campaigns/${id}/approvals/${day}`, { token: approver, body: { decision: "reject" } });
    expect(rejected.status).toBe(200);
    expect(reasons((await postEvent(s.tokens.integrator, orderPaid(ann))).body)).toEqual(["pending_approval"]);
    expect(((await s.stub.getBalance()) as any).balance.committed).toBe(1000);
    expect((await s.stub.checkIntegrity()).problems).toEqual([]);
  });
});
