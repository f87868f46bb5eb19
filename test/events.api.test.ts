import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { activeCampaign, campaignSetup, orderPaid, postEvent } from "./helpers/campaign-factories";
import { runCron } from "../src/cron";

/** A claim left behind by a crashed request: still evaluating, its lease long past. */
async function abandonedClaim(org: string, event: ReturnType<typeof orderPaid>) {
  await env.DB.prepare(
    `INSERT INTO campaign_events (org, id, type, occurred_at, customer_key, status, claimed_until, body_hash, payload, created_by, created_at)
     VALUES (?, ?, 'order.paid', ?, 'x', 'evaluating', '2020-01-01T00:00:00.000Z', 'h', ?, 'shop', ?)`,
  )
    .bind(org, event.id, event.occurred_at, JSON.stringify(event), new Date().toISOString())
    .run();
}

describe("events API", () => {
  it("answers a batch of events one by one, in order, deduplicating within it", async () => {
    const s = await campaignSetup(uniqueOrg("eb"));
    const id = await activeCampaign(s, { rules: "event.properties.total >= 5000" });
    const a = orderPaid({ total: 9000 }),
      b = orderPaid({ total: 10 });
    const res = await callJson("/v1/events/batch", { token: s.tokens.integrator, body: { events: [a, b, a] } });
    expect(res.status).toBe(202);
    expect(res.body.data.map((d: any) => [d.id, d.outcomes[0].outcome, d.outcomes[0].reason])).toEqual([
      [a.id, "rewarded", undefined],
      [b.id, "skipped", "rule_false"],
      [a.id, "rewarded", undefined],
    ]);
    expect(res.body.data[2]).toEqual(res.body.data[0]);
    const n = await env.DB.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE campaign_id = ?").bind(id).first<{ n: number }>();
    expect(n?.n).toBe(1);
    const tooMany = await callJson("/v1/events/batch", { token: s.tokens.integrator, body: { events: Array.from({ length: 1001 }, () => a) } });
    expect(tooMany.status).toBe(400);
  });

  it("refuses unknown fields, needs the integrator role, and hides other orgs' events and campaigns", async () => {
    const s = await campaignSetup(uniqueOrg("eb"));
    const id = await activeCampaign(s);
    const event = orderPaid();
    expect((await postEvent(s.tokens.integrator, { ...event, amount: 5 })).status).toBe(400);
    expect((await postEvent(s.tokens.operator, event)).status).toBe(403);
    expect((await postEvent(s.tokens.integrator, event)).status).toBe(202);
    const stranger = await token({ org: uniqueOrg(), roles: ["integrator", "auditor"] });
    expect((await callJson(`/v1/events/${event.id}`, { token: stranger })).status).toBe(404);
    expect((await callJson(`/v1/campaigns/${id}`, { token: stranger })).status).toBe(404);
    expect((await callJson(`/v1/events/${event.id}`, { token: s.tokens.finance })).status).toBe(403);
    expect((await callJson("/v1/events/nope", { token: s.tokens.integrator })).status).toBe(404);
    // The same id from another org is another event.
    const s2 = await campaignSetup(uniqueOrg("eb"));
    await activeCampaign(s2);
    expect((await postEvent(s2.tokens.integrator, event)).body.outcomes[0].outcome).toBe("rewarded");
  });

  it("takes over an evaluation whose evaluator died and finishes it once", async () => {
    const s = await campaignSetup(uniqueOrg("eb"));
    const id = await activeCampaign(s);
    const event = orderPaid();
    await abandonedClaim(s.org, event);
    const first = await postEvent(s.tokens.integrator, event);
    expect(first.body.outcomes).toEqual([{ campaign_id: id, outcome: "rewarded", delivery_id: expect.any(String) }]);
    expect((await postEvent(s.tokens.integrator, event)).body).toEqual(first.body);
    expect(((await s.stub.getBalance()) as any).balance.committed).toBe(1000);
  });

  it("the five-minute cron finishes an abandoned evaluation from its stored payload", async () => {
    const s = await campaignSetup(uniqueOrg("eb"));
    const id = await activeCampaign(s);
    const event = orderPaid();
    await abandonedClaim(s.org, event);
    expect(await runCron(env, "*/5 * * * *", new Date())).toMatchObject({ "events.abandoned-evaluations": "ok" });
    const record = await callJson(`/v1/events/${event.id}`, { token: s.tokens.support });
    expect(record.body).toMatchObject({ status: "done", outcomes: [{ campaign_id: id, outcome: "rewarded" }] });
    expect((await postEvent(s.tokens.integrator, event)).body.outcomes[0]).toMatchObject({ campaign_id: id, outcome: "rewarded" });
    expect(((await s.stub.getBalance()) as any).balance.committed).toBe(1000);
  });
});
