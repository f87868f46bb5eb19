import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson, uniqueOrg } from "./helpers/api";
import { CLAIM_NUMBER } from "../src/events/referral";
import { activeCampaign, campaignSetup, postEvent } from "./helpers/campaign-factories";

type Setup = Awaited<ReturnType<typeof campaignSetup>>;

/** A referral campaign's body: 5.00 to the referee, 15.00 to the referrer, plus whatever the test adds. */
const referralCampaign = (referral: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  name: "Refer a friend",
  trigger: { event: "referral.converted" },
  referral: { referee_amount: 500, referrer_amount: 1500, ...referral },
  ...extra,
});

let n = 0;
function person(tag: string, extra: Record<string, unknown> = {}) {
  n += 1;
  const u = `${tag}${n}-${crypto.randomUUID().slice(0, 6)}`;
  return { external_id: `C-${u}`, email: `${u}@example.com`, country: "US", ...extra };
}

function referral(referee: Record<string, unknown>, referrer: Record<string, unknown>, id = `ref-${crypto.randomUUID()}`) {
  return { id, type: "referral.converted", occurred_at: new Date().toISOString(), customer: referee, properties: { referrer } };
}

const sides = (outcomes: any[]) => Object.fromEntries(outcomes.map((o) => [o.side, o.reason ?? o.outcome]));

async function waitForDelivered(ids: string[], timeoutMs = 20_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { results } = await env.DB.prepare(`SELECT id, status FROM deliveries WHERE id IN (${ids.map(() => "?").join(",")})`)
      .bind(...ids)
      .all<{ id: string; status: string }>();
    if ((results.length === ids.length && results.every((r) => r.status === "delivered")) || Date.now() > until) return results;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const committed = async (s: Setup) => ((await s.stub.getBalance()) as any).balance.committed as number;

describe("referral campaigns", () => {
  it("reward both sides with their own amounts, each delivered to its own person", async () => {
    const s = await campaignSetup(uniqueOrg("rf"));
    const id = await activeCampaign(s, referralCampaign());
    const referee = person("ee");
    const referrer = person("er");
    const event = referral(referee, referrer);
    const res = await postEvent(s.tokens.integrator, event);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      id: event.id,
      outcomes: [
        { campaign_id: id, side: "referee", outcome: "rewarded", delivery_id: expect.stringMatching(/^dlv_/) },
        { campaign_id: id, side: "referrer", outcome: "rewarded", delivery_id: expect.stringMatching(/^dlv_/) },
      ],
    });
    const [eeDelivery, erDelivery] = res.body.outcomes.map((o: any) => o.delivery_id);
    expect(eeDelivery).not.toBe(erDelivery);
    const delivered = await waitForDelivered([eeDelivery, erDelivery]);
    expect(delivered.map((d) => d.status)).toEqual(["delivered", "delivered"]);
    const rows = await env.DB.prepare(
      "SELECT d.id, d.amount, o.email, o.side FROM deliveries d JOIN campaign_outcomes o ON o.id = d.recipient_id WHERE d.campaign_id = ? ORDER BY o.side",
    )
      .bind(id)
      .all();
    expect(rows.results).toEqual([
      { id: eeDelivery, amount: 500, email: referee.email, side: "referee" },
      { id: erDelivery, amount: 1500, email: referrer.email, side: "referrer" },
    ]);
    for (const to of [referee.email, referrer.email]) {
      const mail = await env.DB.prepare('SELECT COUNT(*) AS n FROM dev_outbox WHERE org = ? AND "to" = ?').bind(s.org, to).first<{ n: number }>();
      expect(mail?.n).toBe(1);
    }
    expect(await committed(s)).toBe(2000);
    const record = await callJson(`/v1/events/${event.id}`, { token: s.tokens.support });
    expect(record.body.outcomes).toMatchObject([
      { campaign_id: id, side: "referee", outcome: "rewarded", amount: 500, delivery_id: eeDelivery },
      { campaign_id: id, side: "referrer", outcome: "rewarded", amount: 1500, delivery_id: erDelivery },
    ]);
    const view = await callJson(`/v1/campaigns/${id}`, { token: s.tokens.support });
    expect(view.body).toMatchObject({
      referral: { referee_amount: 500, referrer_amount: 1500 },
      counts: { events: 1, matched: 2, rewarded: 2 },
      budget: { committed: 2000 },
    });
  });

  it("refuses self-referral on both sides: same identity key or external id; same email domain only when the campaign says so", async () => {
    const s = await campaignSetup(uniqueOrg("rf"));
    await activeCampaign(s, referralCampaign());
    const ann = person("ann");
    const post = async (referee: unknown, referrer: unknown) =>
      sides((await postEvent(s.tokens.integrator, referral(referee as any, referrer as any))).body.outcomes);
    // The same normalised email (case, +tag) under another external id.
    const [local, domain] = ann.email.split("@");
    expect(await post(ann, { ...person("x"), email: `${local!.toUpperCase()}+promo@${domain}` })).toEqual({
      referee: "self_referral",
      referrer: "self_referral",
    });
    // The same external id with other contact details.
    expect(await post(ann, { ...person("y"), external_id: ann.external_id })).toEqual({ referee: "self_referral", referrer: "self_referral" });
    // Same domain, different people: rewarded unless the campaign refuses shared domains.
    expect(await post(person("a", { email: `a-${n}@corp.example` }), person("b", { email: `b-${n}@corp.example` }))).toEqual({
      referee: "rewarded",
      referrer: "rewarded",
    });
    const st = await campaignSetup(uniqueOrg("rf"));
    const strict = await activeCampaign(st, referralCampaign({ refuse_same_email_domain: true }));
    const strictEvent = referral(person("c", { email: `c-${n}@Corp.example` }), person("d", { email: `d-${n}@corp.example` }));
    const res = await postEvent(st.tokens.integrator, strictEvent);
    expect(sides(res.body.outcomes)).toEqual({ referee: "self_referral", referrer: "self_referral" });
    const rec = await callJson(`/v1/events/${strictEvent.id}`, { token: st.tokens.support });
    expect(rec.body.outcomes[0]).toMatchObject({ campaign_id: strict, side: "referee", detail: expect.stringContaining("corp.example") });
    const view = await callJson(`/v1/campaigns/${strict}`, { token: st.tokens.support });
    expect(view.body.counts.skipped.self_referral).toBe(2);
  });

  it("holds the per-referrer cap under 20 concurrent referrals of one referrer; every referee is still rewarded", async () => {
    const s = await campaignSetup(uniqueOrg("rf"));
    const id = await activeCampaign(s, referralCampaign({ per_referrer: { count: 5 } }));
    const referrer = person("er");
    const answers = await Promise.all(Array.from({ length: 20 }, () => postEvent(s.tokens.integrator, referral(person("ee"), referrer))));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(202));
    const all = answers.map((a) => sides(a.body.outcomes));
    expect(all.filter((o) => o.referee === "rewarded")).toHaveLength(20);
    expect(all.filter((o) => o.referrer === "rewarded")).toHaveLength(5);
    expect(all.filter((o) => o.referrer === "customer_cap")).toHaveLength(15);
    expect(await committed(s)).toBe(20 * 500 + 5 * 1500);
    const numbers = await env.DB.prepare("SELECT seq FROM referral_numbers WHERE campaign_id = ? ORDER BY seq").bind(id).all<{ seq: number }>();
    expect(numbers.results.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    // Another referrer has a cap of their own.
    expect(sides((await postEvent(s.tokens.integrator, referral(person("ee"), person("er2")))).body.outcomes)).toEqual({
      referee: "rewarded",
      referrer: "rewarded",
    });
  }, 60_000);

  it("pays a milestone tier: every 3rd referral earns more, every 6th the most", async () => {
    const s = await campaignSetup(uniqueOrg("rf"));
    await activeCampaign(
      s,
      referralCampaign({
        milestones: [
          { every: 3, referrer_amount: 5000 },
          { every: 6, referrer_amount: 9000 },
        ],
      }),
    );
    const referrer = person("er");
    const amounts: number[] = [];
    for (let i = 0; i < 7; i++) {
      const event = referral(person("ee"), referrer);
      await postEvent(s.tokens.integrator, event);
      const rec = await callJson(`/v1/events/${event.id}`, { token: s.tokens.support });
      amounts.push(rec.body.outcomes.find((o: any) => o.side === "referrer").amount);
      expect(rec.body.outcomes.find((o: any) => o.side === "referee").amount).toBe(500);
    }
    expect(amounts).toEqual([1500, 1500, 5000, 1500, 1500, 9000, 1500]);
  });

  it("one event id sent again, and 30 times at once, pays each side once", async () => {
    const s = await campaignSetup(uniqueOrg("rf"));
    const id = await activeCampaign(s, referralCampaign({ per_referrer: { count: 3 }, milestones: [{ every: 2, referrer_amount: 3000 }] }));
    const event = referral(person("ee"), person("er"));
    const answers = await Promise.all(Array.from({ length: 30 }, () => postEvent(s.tokens.integrator, event)));
    expect(new Set(answers.map((a) => JSON.stringify(a.body))).size).toBe(1);
    expect(sides(answers[0]!.body.outcomes)).toEqual({ referee: "rewarded", referrer: "rewarded" });
    const again = await postEvent(s.tokens.integrator, event);
    expect(again.body).toEqual(answers[0]!.body);
    const d = await env.DB.prepare("SELECT COUNT(*) AS n, SUM(amount) AS total FROM deliveries WHERE campaign_id = ?").bind(id).first();
    expect(d).toEqual({ n: 2, total: 2000 });
    expect(await committed(s)).toBe(2000);
    // The event took one number: the referrer's next referral is their 2nd (the milestone).
    const next = referral(person("ee"), JSON.parse(JSON.stringify(event.properties.referrer)));
    await postEvent(s.tokens.integrator, next);
    const rec = await callJson(`/v1/events/${next.id}`, { token: s.tokens.support });
    expect(rec.body.outcomes.find((o: any) => o.side === "referrer").amount).toBe(3000);
  }, 60_000);

  it("in one batch request: both sides of each referral, the referrer's cap and milestones numbered in the request's order", async () => {
    const s = await campaignSetup(uniqueOrg("rf"));
    const id = await activeCampaign(s, referralCampaign({ per_referrer: { count: 3 }, milestones: [{ every: 2, referrer_amount: 3000 }] }));
    const referrer = person("er");
    const events = Array.from({ length: 5 }, () => referral(person("ee"), referrer));
    // A self-referral in the same request skips both of its sides without taking a number.
    const self = person("self");
    events.splice(1, 0, referral(self, { ...self, email: `other-${self.email}` }));
    const res = await callJson("/v1/events/batch", { token: s.tokens.integrator, body: { events } });
    expect(res.status).toBe(202);
    expect(res.body.data.map((a: any) => sides(a.outcomes))).toEqual([
      { referee: "rewarded", referrer: "rewarded" },
      { referee: "self_referral", referrer: "self_referral" },
      { referee: "rewarded", referrer: "rewarded" },
      { referee: "rewarded", referrer: "rewarded" },
      { referee: "rewarded", referrer: "customer_cap" },
      { referee: "rewarded", referrer: "customer_cap" },
    ]);
    const paid = await env.DB.prepare(
      "SELECT o.event_id, o.side, d.amount FROM campaign_outcomes o JOIN deliveries d ON d.id = o.delivery_id WHERE o.campaign_id = ? AND o.side = 'referrer'",
    )
      .bind(id)
      .all<{ event_id: string; side: string; amount: number }>();
    const byEvent = new Map(paid.results.map((r) => [r.event_id, r.amount]));
    expect([events[0], events[2], events[3]].map((e) => byEvent.get(e!.id))).toEqual([1500, 3000, 1500]);
    expect(await committed(s)).toBe(5 * 500 + 1500 + 3000 + 1500);
    // The capped side's detail is kept under its side; the skips are counted per side.
    const rec = await callJson(`/v1/events/${events[5]!.id}`, { token: s.tokens.support });
    expect(rec.body.outcomes).toMatchObject([
      { campaign_id: id, side: "referee", outcome: "rewarded", amount: 500 },
      { campaign_id: id, side: "referrer", outcome: "skipped", reason: "customer_cap", detail: expect.stringContaining("per_referrer") },
    ]);
    const view = await callJson(`/v1/campaigns/${id}`, { token: s.tokens.support });
    // Six events, each counted once; outcomes (rewarded, skipped) per side.
    expect(view.body.counts).toMatchObject({ events: 6, matched: 10, rewarded: 8, skipped: { self_referral: 2, customer_cap: 2 } });
  });

  it("puts each side under the campaign's approval threshold and caps", async () => {
    const s = await campaignSetup(uniqueOrg("rf"));
    const id = await activeCampaign(s, referralCampaign({}, { approval: { at_or_above: 1000 }, limits: { per_customer: { count: 1, period: "lifetime" } } }));
    const referrer = person("er");
    const first = await postEvent(s.tokens.integrator, referral(person("ee"), referrer));
    expect(first.body.outcomes.map((o: any) => [o.side, o.outcome])).toEqual([
      ["referee", "rewarded"],
      ["referrer", "pending_approval"],
    ]);
    // per_customer counts the referrer's reward: a second referral pays only the new referee.
    const second = await postEvent(s.tokens.integrator, referral(person("ee"), referrer));
    expect(sides(second.body.outcomes)).toEqual({ referee: "rewarded", referrer: "customer_cap" });
    // A referee without an address skips alone; a new referrer is still evaluated (and waits for approval).
    const thirdReferrer = person("er");
    const third = await postEvent(s.tokens.integrator, referral(person("ee", { email: "nope" }), thirdReferrer));
    expect(sides(third.body.outcomes)).toEqual({ referee: "invalid_contact", referrer: "pending_approval" });
    // Approving the day delivers each waiting referrer reward to its referrer.
    const day = new Date().toISOString().slice(0, 10);
    const listed = await callJson(`/v1/campaigns/${id}/approvals`, { token: s.tokens.finance });
    expect(listed.body.data[0].pending.map((p: any) => p.side)).toEqual(["referrer", "referrer"]);
    const decided = await callJson(`/v1/campaigns/${id}/approvals/${day}`, { token: s.tokens.finance, body: { decision: "approve" } });
    expect(decided.body).toMatchObject({ decision: "approve", rewards: 2, total: 3000 });
    const { results } = await env.DB.prepare(
      "SELECT o.external_id, d.amount FROM deliveries d JOIN campaign_outcomes o ON o.id = d.recipient_id WHERE d.campaign_id = ? AND o.side = 'referrer' ORDER BY o.external_id",
    )
      .bind(id)
      .all();
    expect(results).toEqual([referrer.external_id, thirdReferrer.external_id].sort().map((external_id) => ({ external_id, amount: 1500 })));
  });
});

describe("the referrer's number", () => {
  it("is claimed reading the same few rows whether the referrer has 3 referrals or 300", async () => {
    const claim = (key: string, i: number, cap: number | null) =>
      env.DB.prepare(CLAIM_NUMBER).bind("cmp_rows", key, `e-${key}-${i}`, "2026-12-08T00:00:00Z", cap).run();
    const reads: Record<number, number> = {};
    for (const total of [3, 300]) {
      const key = `email:r${total}@example.com`;
      const stmts = Array.from({ length: total }, (_, i) => env.DB.prepare(CLAIM_NUMBER).bind("cmp_rows", key, `e-${key}-${i}`, "2026-12-08T00:00:00Z", null));
      await env.DB.batch(stmts);
      const r = await claim(key, total, null);
      expect(r.meta.changes).toBe(1);
      reads[total] = r.meta.rows_read;
    }
    expect(reads[300]).toBe(reads[3]);
    expect(reads[3]).toBeLessThanOrEqual(3);
    const plan = await env.DB.prepare(`EXPLAIN QUERY PLAN ${CLAIM_NUMBER}`).bind("c", "k", "e", "t", 5).all<{ detail: string }>();
    expect(plan.results.map((p) => p.detail).filter((d) => /^SCAN referral_numbers/.test(d))).toEqual([]);
    // At the cap nothing is claimed.
    const capped = await claim("email:r3@example.com", 99, 4);
    expect(capped.meta.changes).toBe(0);
  });
});

describe("referral validation", () => {
  it("refuses a bad referral block with a pointer to the field", async () => {
    const s = await campaignSetup(uniqueOrg("rv"));
    const create = (body: Record<string, unknown>) => callJson("/v1/campaigns", { token: s.tokens.operator, body: s.body(body) });
    const pointers = async (body: Record<string, unknown>) => {
      const res = await create(body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("validation_failed");
      return res.body.errors.map((e: any) => e.pointer);
    };
    const trigger = { event: "referral.converted" };
    expect(await pointers({ trigger, referral: { referee_amount: 500 } })).toEqual(["/referral/referrer_amount"]);
    expect(await pointers({ trigger, referral: { referee_amount: 500, referrer_amount: 500, bonus: 1 } })).toEqual(["/referral/bonus"]);
    expect(await pointers({ trigger, referral: { referee_amount: 500, referrer_amount: 500, per_referrer: { count: 0 } } })).toEqual([
      "/referral/per_referrer/count",
    ]);
    expect(await pointers({ trigger, referral: { referee_amount: 500, referrer_amount: 500, milestones: [{ every: 1, referrer_amount: 900 }] } })).toEqual([
      "/referral/milestones/0/every",
    ]);
    const twice = [
      { every: 5, referrer_amount: 900 },
      { every: 5, referrer_amount: 1900 },
    ];
    expect(await pointers({ trigger, referral: { referee_amount: 500, referrer_amount: 500, milestones: twice } })).toEqual(["/referral/milestones/1/every"]);
    // Amounts within the product's range (100–100,000).
    expect(await pointers({ trigger, referral: { referee_amount: 500, referrer_amount: 500, milestones: [{ every: 5, referrer_amount: 200_000 }] } })).toEqual([
      "/referral/milestones/0/referrer_amount",
    ]);
    expect(await pointers({ trigger, referral: { referee_amount: 50, referrer_amount: 500 } })).toEqual(["/referral/referee_amount"]);
    // A referral.converted campaign needs the block; the block needs an event trigger and no tiers.
    expect(await pointers({ trigger })).toEqual(["/referral"]);
    expect(await pointers({ trigger: { kind: "inactivity", days: 30 }, referral: { referee_amount: 500, referrer_amount: 500 } })).toEqual(["/trigger"]);
    // On another event type there is no referrer to pay: the block is refused (create and PATCH).
    expect(await pointers({ trigger: { event: "order.paid" }, referral: { referee_amount: 500, referrer_amount: 500 } })).toEqual(["/referral"]);
    const tiers = { product_id: s.productId, channel: "email", tiers: [{ when: "true", amount: 500 }] };
    expect(await pointers({ trigger, reward: tiers, referral: { referee_amount: 500, referrer_amount: 500 } })).toEqual(["/reward/tiers"]);
    // A valid one, with no reward amount (the block has them); PATCH edits the block and keeps it when the reward changes.
    const ok = await create({
      trigger,
      reward: { product_id: s.productId, channel: "email" },
      referral: { referee_amount: 500, referrer_amount: 500, milestones: [{ every: 5, referrer_amount: 900 }] },
    });
    expect(ok.status).toBe(201);
    const patched = await callJson(`/v1/campaigns/${ok.body.id}`, {
      method: "PATCH",
      token: s.tokens.operator,
      body: { reward: { product_id: s.productId, channel: "link" } },
    });
    expect(patched.body.referral).toEqual({ referee_amount: 500, referrer_amount: 500, milestones: [{ every: 5, referrer_amount: 900 }] });
    const retrigger = await callJson(`/v1/campaigns/${ok.body.id}`, { method: "PATCH", token: s.tokens.operator, body: { trigger: { event: "order.paid" } } });
    expect(retrigger.status).toBe(400);
    expect(retrigger.body.errors.map((e: any) => e.pointer)).toEqual(["/referral"]);
    const badPatch = await callJson(`/v1/campaigns/${ok.body.id}`, {
      method: "PATCH",
      token: s.tokens.operator,
      body: { referral: { referee_amount: 500, referrer_amount: 999_999 } },
    });
    expect(badPatch.status).toBe(400);
    expect(badPatch.body.errors[0].pointer).toBe("/referral/referrer_amount");
    const cleared = await callJson(`/v1/campaigns/${ok.body.id}`, { method: "PATCH", token: s.tokens.operator, body: { referral: null } });
    expect(cleared.status).toBe(400);
    expect(cleared.body.errors.map((e: any) => e.pointer)).toEqual(["/referral", "/reward/amount"]);
  });

  it("refuses a referral.converted event without a referrer shaped like a customer", async () => {
    const s = await campaignSetup(uniqueOrg("rv"));
    const post = (event: unknown) => postEvent(s.tokens.integrator, event);
    const base = referral(person("ee"), person("er"));
    const missing = await post({ ...base, properties: {} });
    expect(missing.status).toBe(400);
    expect(missing.body.errors[0].pointer).toBe("/properties/referrer");
    const noId = await post({ ...base, properties: { referrer: { email: "x@example.com" } } });
    expect(noId.status).toBe(400);
    expect(noId.body.errors[0].pointer).toBe("/properties/referrer/external_id");
    const batch = await callJson("/v1/events/batch", {
      token: s.tokens.integrator,
      body: { events: [base, { ...base, id: "b2", properties: { referrer: 7 } }] },
    });
    // In a batch, the bad event answers its error in place; the good one is evaluated.
    expect(batch.status).toBe(202);
    expect(batch.body.data[0]).toMatchObject({ id: base.id, outcomes: expect.any(Array) });
    expect(batch.body.data[1]).toMatchObject({ id: "b2", error: { code: "validation_failed" } });
    expect(batch.body.data[1].error.errors[0].pointer).toBe("/events/1/properties/referrer");
  });
});
