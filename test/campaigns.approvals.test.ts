import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { enrolAndConfirm } from "./helpers/approver-factories";
import { campaignSetup, orderPaid, postEvent } from "./helpers/campaign-factories";

async function statusOf(id: string) {
  return (await env.DB.prepare("SELECT status FROM deliveries WHERE id = ?").bind(id).first<{ status: string }>())?.status ?? null;
}
async function waitFor(id: string, status: string, timeoutMs = 20_000) {
  const until = Date.now() + timeoutMs;
  while ((await statusOf(id)) !== status && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  return statusOf(id);
}

describe("campaign rewards at or above the approval threshold", () => {
  it("wait in one request per day, are refused to their creator (four-eyes) and deliver only after approval", async () => {
    const org = uniqueOrg("ca");
    const s = await campaignSetup(org);
    // The creator holds finance too: four-eyes must still refuse them.
    const creator = await token({ org, sub: "cora", roles: ["operator", "finance"] });
    const reward = {
      product_id: s.productId,
      channel: "email",
      tiers: [
        { when: "event.properties.total >= 50000", amount: 5000 },
        { when: "true", amount: 1000 },
      ],
    };
    const created = await callJson("/v1/campaigns", { token: creator, body: s.body({ reward, approval: { at_or_above: 5000 } }) });
    const id = created.body.id;
    await callJson(`/v1/campaigns/${id}/activate`, { method: "POST", token: s.tokens.finance });
    await enrolAndConfirm(s.tokens.finance, "fran@example.com");

    const small = await postEvent(s.tokens.integrator, orderPaid({ total: 100 }));
    expect(small.body.outcomes[0].outcome).toBe("rewarded");
    const big1 = await postEvent(s.tokens.integrator, orderPaid({ total: 60_000 }));
    const big2 = await postEvent(s.tokens.integrator, orderPaid({ total: 70_000 }));
    expect(big1.body.outcomes).toEqual([{ campaign_id: id, outcome: "pending_approval" }]);
    expect(big2.body.outcomes[0].outcome).toBe("pending_approval");
    const pendingIds = await env.DB.prepare("SELECT delivery_id FROM campaign_outcomes WHERE campaign_id = ? AND outcome = 'pending_approval'")
      .bind(id)
      .all<{ delivery_id: string }>();
    expect(pendingIds.results).toHaveLength(2);
    for (const p of pendingIds.results) expect(await statusOf(p.delivery_id)).toBeNull();

    const day = new Date().toISOString().slice(0, 10);
    const requests = await callJson(`/v1/campaigns/${id}/approvals`, { token: s.tokens.support });
    expect(requests.body.data).toHaveLength(1);
    expect(requests.body.data[0]).toMatchObject({ day, status: "open" });
    expect(requests.body.data[0].pending.map((p: any) => p.event_id).sort()).toEqual([big1.body.id, big2.body.id].sort());
    const mails = await env.DB.prepare('SELECT COUNT(*) AS n FROM dev_outbox WHERE org = ? AND "to" = ? AND subject LIKE ?')
      .bind(org, "fran@example.com", "Rewards to approve%")
      .first<{ n: number }>();
    expect(mails?.n).toBe(1);
    const view = await callJson(`/v1/campaigns/${id}`, { token: s.tokens.support });
    expect(view.body.counts).toMatchObject({ rewarded: 1, pending_approval: 2 });
    expect(view.body.budget.committed).toBe(11_000);

    const selfDecision = await callJson(`/v1/campaigns/${id}/approvals/${day}`, { token: creator, body: { decision: "approve" } });
    expect(selfDecision.status).toBe(403);
    expect(selfDecision.body.code).toBe("self_approval_forbidden");
    const byOperator = await callJson(`/v1/campaigns/${id}/approvals/${day}`, { token: s.tokens.operator, body: { decision: "approve" } });
    expect(byOperator.status).toBe(403);

    const approved = await callJson(`/v1/campaigns/${id}/approvals/${day}`, { token: s.tokens.finance, body: { decision: "approve", comment: "ok" } });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ day, decision: "approve", outcome: "approved", rewards: 2, total: 10_000 });
    for (const p of pendingIds.results) expect(await waitFor(p.delivery_id, "delivered")).toBe("delivered");
    const again = await callJson(`/v1/campaigns/${id}/approvals/${day}`, { token: s.tokens.finance, body: { decision: "approve" } });
    expect(again.status).toBe(409);
    const record = await callJson(`/v1/events/${big1.body.id}`, { token: s.tokens.support });
    expect(record.body.outcomes[0]).toMatchObject({ outcome: "rewarded", amount: 5000 });
  });

  it("a rejection gives the value back to the budget once", async () => {
    const org = uniqueOrg("ca");
    const s = await campaignSetup(org);
    const created = await callJson("/v1/campaigns", { token: s.tokens.operator, body: s.body({ approval: { at_or_above: 1000 } }) });
    const id = created.body.id;
    await callJson(`/v1/campaigns/${id}/activate`, { method: "POST", token: s.tokens.finance });
    expect((await postEvent(s.tokens.integrator, orderPaid())).body.outcomes[0].outcome).toBe("pending_approval");
    const day = new Date().toISOString().slice(0, 10);
    const rejected = await callJson(`/v1/campaigns/${id}/approvals/${day}`, { token: s.tokens.finance, body: { decision: "reject" } });
    expect(rejected.body).toMatchObject({ rewards: 1, total: 1000 });
    const view = await callJson(`/v1/campaigns/${id}`, { token: s.tokens.support });
    expect(view.body.budget).toMatchObject({ committed: 0, reserved: 100_000 });
    expect(view.body.counts).toMatchObject({ pending_approval: 0, rejected: 1, rewarded: 0 });
    expect((await callJson(`/v1/campaigns/${id}/approvals/${day}`, { token: s.tokens.finance, body: { decision: "reject" } })).status).toBe(409);
    expect((await s.stub.checkIntegrity()).problems).toEqual([]);
    const n = await env.DB.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE campaign_id = ?").bind(id).first<{ n: number }>();
    expect(n?.n).toBe(0);
  });
});
