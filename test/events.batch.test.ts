/**
 * POST /v1/events/batch evaluates a whole request at once: caps and budget are claimed per campaign
 * in one pool call, in the events' order, and stay exact when requests race.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { activeCampaign, campaignSetup, orderPaid, postEvent } from "./helpers/campaign-factories";
import { validateOpenApi31 } from "./helpers/openapi-validator";
import { EventBatchAnswer } from "../src/routes/events/events.schemas";

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

describe("a batch with invalid events", () => {
  it("answers each invalid event with its errors in place and evaluates the valid ones", async () => {
    const s = await campaignSetup(uniqueOrg("ebv"));
    const id = await activeCampaign(s);
    const [a, b, c] = [orderPaid(), orderPaid(), orderPaid()];
    const { id: _dropped, ...noId } = orderPaid();
    const events = [
      a,
      noId,
      { ...b, occurred_at: "yesterday" },
      c,
      { ...orderPaid(), customer: { email: "x@example.com" } },
      { ...orderPaid({ id: "bd-1" }), customer: { external_id: "BD", attributes: { birthday: "1990-13-45" } } },
      "not an event",
    ];
    const res = await postBatch(s.tokens.integrator, events);
    expect(res.status).toBe(202);
    expect(EventBatchAnswer.safeParse(res.body).success).toBe(true);
    const data = res.body.data;
    expect(data).toHaveLength(7);
    expect([data[0], data[3]].map((d: any) => [d.id, d.outcomes[0].campaign_id, d.outcomes[0].outcome])).toEqual([
      [a.id, id, "rewarded"],
      [c.id, id, "rewarded"],
    ]);
    const problems = (d: any) => d.error.errors.map((e: any) => e.pointer);
    expect(data[1]).not.toHaveProperty("id");
    expect(data[1].error.code).toBe("validation_failed");
    expect(problems(data[1])).toEqual(["/events/1/id"]);
    expect(data[2]).toMatchObject({ id: b.id, error: { code: "validation_failed" } });
    expect(problems(data[2])).toEqual(["/events/2/occurred_at"]);
    expect(problems(data[4])).toEqual(["/events/4/customer/external_id"]);
    expect(data[5]).toMatchObject({ id: "bd-1" });
    expect(problems(data[5])).toEqual(["/events/5/customer/attributes/birthday"]);
    expect(data[5].error.errors[0].code).toBe("date_invalid"); // the same reason as PUT /v1/customers and the import
    expect(problems(data[6])).toEqual(["/events/6"]);
    // Nothing of the invalid events was recorded: sending the corrected event is a first evaluation.
    const fixed = await postEvent(s.tokens.integrator, b);
    expect(fixed.body.outcomes[0].outcome).toBe("rewarded");
    expect((await callJson(`/v1/events/bd-1`, { token: s.tokens.support })).status).toBe(404);
    const view = await callJson(`/v1/campaigns/${id}`, { token: s.tokens.support });
    expect(view.body.counts).toMatchObject({ events: 3, rewarded: 3 });
  });

  it("still refuses a body that is not { events: [...] } of 1 to 1,000 events as a whole, and documents the answer", async () => {
    const s = await campaignSetup(uniqueOrg("ebv"));
    for (const body of [
      {},
      { events: [] },
      { events: "x" },
      { events: [orderPaid()], extra: 1 },
      { events: Array.from({ length: 1001 }, () => orderPaid()) },
    ]) {
      const res = await callJson("/v1/events/batch", { token: s.tokens.integrator, body });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    const doc = (await callJson("/openapi.json")).body;
    expect(validateOpenApi31(doc).valid).toBe(true);
    const op = doc.paths["/v1/events/batch"].post;
    expect(JSON.stringify(op.requestBody)).toContain("#/components/schemas/Event");
    expect(doc.components.schemas.EventBatchError.properties.error.properties).toHaveProperty("errors");
  });
});
