/**
 * A campaign reward that is a bonus credit onto the customer's existing stored-value card (issue #22
 * item 5, reward `kind: "card_credit"`): found by the customer's identity, committed from the
 * campaign's budget, expiring at the customer's midnight, once per event, and reconciled.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson, uniqueOrg } from "./helpers/api";
import { activeCampaign, campaignSetup, orderPaid, postEvent } from "./helpers/campaign-factories";
import { createPool } from "./helpers/factories";
import { plan, recordPrepared, tableNames, tableScans } from "./helpers/query-plans";
import { findingsOf, reconcile } from "./helpers/reconciliation-factories";
import { creditExpiry, localSeconds } from "../src/events/card-credits";
import { poolBalance } from "./helpers/support-factories";

type Setup = Awaited<ReturnType<typeof campaignSetup>>;

const credit = (extra: Record<string, unknown> = {}) => ({
  reward: { kind: "card_credit", channel: "email", amount: 1_000, expires: { at_local_time: "24:00" }, ...extra },
});

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

/** A card campaign on `signup` issues the customer a 2,500 card through the delivery pipeline; returns its id. */
async function issuedCard(s: Setup, issuer: string, customer: { external_id: string; email: string }): Promise<string> {
  const res = await postEvent(s.tokens.integrator, { ...orderPaid({ ...customer }), type: "signup" });
  expect(res.body.outcomes).toEqual([{ campaign_id: issuer, outcome: "rewarded", delivery_id: expect.any(String) }]);
  const deliveryId = res.body.outcomes[0].delivery_id;
  expect(await delivered([deliveryId])).toBe(1);
  return (await env.DB.prepare("SELECT card_id FROM deliveries WHERE id = ?").bind(deliveryId).first<{ card_id: string }>())!.card_id;
}

/** The wall clock in `zone` at `at`: `YYYY-MM-DD HH:MM:SS`. */
function wallClock(zone: string, at: number): string {
  const p = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    })
      .formatToParts(at)
      .map((x) => [x.type, x.value]),
  );
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

async function committed(s: Setup): Promise<number> {
  return ((await poolBalance(s.poolId)) as { committed: number }).committed;
}

async function setup(name: string, creditExtra: Record<string, unknown> = {}, campaignExtra: Record<string, unknown> = {}) {
  const s = await campaignSetup(uniqueOrg(name));
  const issuer = await activeCampaign(s, {
    name: "Welcome card",
    trigger: { event: "signup" },
    reward: { product_id: s.productId, channel: "email", amount: 2_500 },
  });
  const creditor = await activeCampaign(s, { name: "Midnight bonus", ...credit(creditExtra), budget: { amount: 10_000 }, ...campaignExtra });
  return { s, issuer, creditor };
}

describe("a card credit's expiry", () => {
  const iso = (t: number) => new Date(t).toISOString();
  it("ends the event's local day in the customer's zone, across daylight-saving changes and the date line", () => {
    // 2026-11-01 is the day New York leaves daylight saving (25 hours long): its end is 05:00Z on the 2nd.
    expect(iso(creditExpiry({ at_local_time: "24:00" }, "2026-11-01T12:00:00Z", "America/New_York"))).toBe("2026-11-02T05:00:00.000Z");
    expect(iso(creditExpiry({ at_local_time: "23:59:59" }, "2026-11-01T12:00:00Z", "America/New_York"))).toBe("2026-11-02T04:59:59.000Z");
    // 2026-03-08 is 23 hours long there; 01:30 local on the 8th is still the 8th.
    expect(iso(creditExpiry({ at_local_time: "24:00" }, "2026-03-08T06:30:00Z", "America/New_York"))).toBe("2026-03-09T04:00:00.000Z");
    // Kiritimati (UTC+14) is already on the next day: 2026-12-07T12:00Z is 02:00 on the 8th there.
    expect(iso(creditExpiry({ at_local_time: "24:00" }, "2026-12-07T12:00:00Z", "Pacific/Kiritimati"))).toBe("2026-12-08T10:00:00.000Z");
    // A time already past on the event's local day is the next day's.
    expect(iso(creditExpiry({ at_local_time: "09:00" }, "2026-12-07T10:00:00Z", "UTC"))).toBe("2026-12-08T09:00:00.000Z");
    expect(iso(creditExpiry({ at_local_time: "09:00" }, "2026-12-07T08:00:00Z", "UTC"))).toBe("2026-12-07T09:00:00.000Z");
    // A time a daylight-saving gap skips (02:30 on 2026-03-08 in New York) lands just after the gap.
    expect(iso(creditExpiry({ at_local_time: "02:30" }, "2026-03-08T06:00:00Z", "America/New_York"))).toBe("2026-03-08T07:00:00.000Z");
    expect(iso(creditExpiry({ after_hours: 48 }, "2026-12-07T10:00:00Z", "UTC"))).toBe("2026-12-09T10:00:00.000Z");
    expect(iso(creditExpiry({ at: "2026-12-31T23:00:00+01:00" }, "2026-12-07T10:00:00Z", "UTC"))).toBe("2026-12-31T22:00:00.000Z");
  });

  it("reads HH:MM and HH:MM:SS up to 24:00", () => {
    expect([localSeconds("00:00"), localSeconds("23:59:59"), localSeconds("24:00"), localSeconds("24:00:00")]).toEqual([0, 86_399, 86_400, 86_400]);
    expect([localSeconds("24:01"), localSeconds("12:60"), localSeconds("9:00"), localSeconds("12:00:60")]).toEqual([null, null, null, null]);
  });
});

describe("card_credit campaign rewards", () => {
  it("credits the customer's card with a bonus that expires at their midnight, traceable from the event, once", async () => {
    const { s, issuer, creditor } = await setup("cc");
    const customer = { external_id: "C-17", email: "ann+shop@example.com" };
    const put = await callJson("/v1/customers/C-17", {
      method: "PUT",
      token: s.tokens.integrator,
      body: { email: customer.email, time_zone: "America/New_York" },
    });
    expect([200, 201]).toContain(put.status);
    const cardId = await issuedCard(s, issuer, customer);
    const before = await committed(s);

    // The order event names the customer by external id and another spelling of the email: the same identity.
    const event = orderPaid({ external_id: "C-17", email: "Ann@example.com" });
    const res = await postEvent(s.tokens.integrator, event);
    expect(res.status).toBe(202);
    const outcome = res.body.outcomes.find((o: { campaign_id: string }) => o.campaign_id === creditor);
    expect(outcome).toEqual({ campaign_id: creditor, outcome: "rewarded", card_id: cardId, credit_id: expect.stringMatching(/^crd_/) });
    const creditId: string = outcome.credit_id;
    expect(await committed(s)).toBe(before + 1_000);

    // The card: a bonus bucket of 1,000 that expires at the end of the event's day in New York.
    const card = (await callJson(`/v1/cards/${cardId}`, { token: s.tokens.support })).body;
    expect(card.balance).toMatchObject({ issued: 2_500, credited: 1_000, available: 3_500 });
    const bonus = card.buckets.find((b: { kind: string }) => b.kind === "bonus");
    expect(bonus).toMatchObject({ id: `bonus:${creditId}`, amount: 1_000, remaining: 1_000, state: "active" });
    const expiresAt = Date.parse(bonus.expires_at);
    const eventDay = wallClock("America/New_York", Date.parse(event.occurred_at)).slice(0, 10);
    expect(wallClock("America/New_York", expiresAt - 1_000)).toBe(`${eventDay} 23:59:59`);
    expect(wallClock("America/New_York", expiresAt).slice(11)).toBe("00:00:00");
    // Its transaction names the campaign as actor and the event as reference.
    const txn = card.transactions.find((t: { kind: string }) => t.kind === "credit");
    expect(txn).toMatchObject({ amount: 1_000, actor: `campaign:${creditor}`, reference: event.id, bucket_id: `bonus:${creditId}` });

    // The event's record shows card, credit and expiry; the customer was told.
    const record = (await callJson(`/v1/events/${event.id}`, { token: s.tokens.support })).body;
    expect(record.outcomes.find((o: { campaign_id: string }) => o.campaign_id === creditor)).toMatchObject({
      outcome: "rewarded",
      amount: 1_000,
      delivery_id: null,
      card_id: cardId,
      credit_id: creditId,
      credit_expires_at: new Date(expiresAt).toISOString(),
    });
    const mail = await env.DB.prepare("SELECT subject, text FROM dev_outbox WHERE org = ? AND idempotency_key = ?")
      .bind(s.org, `card-credit:${creditId}`)
      .all<{ subject: string; text: string }>();
    expect(mail.results).toHaveLength(1);
    expect(mail.results[0]!.text).toContain("We've added $10.00 to your card");
    const localDay = new Intl.DateTimeFormat("en-US", { timeZone: "America/New_York", dateStyle: "medium" }).format(expiresAt - 1);
    expect(mail.results[0]!.text).toContain(`valid until midnight at the end of ${localDay} (America/New_York)`);
    expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE campaign_id = ?").bind(creditor).first<{ n: number }>())!.n).toBe(0);

    // The customer's profile lists the credit among their rewards.
    const profile = (await callJson("/v1/customers/C-17", { token: s.tokens.support })).body;
    expect(profile.rewards_received.items.find((i: { campaign_id: string }) => i.campaign_id === creditor)).toMatchObject({
      outcome: "rewarded",
      amount: 1_000,
      delivery_id: null,
      card_id: cardId,
      credit_id: creditId,
    });

    // The same event again: the same answer, nothing more credited or committed.
    const again = await postEvent(s.tokens.integrator, event);
    expect(again.body).toEqual(res.body);
    // A re-run of a taken-over evaluation whose outcome row is missing while the pool and the card both
    // hold the credit (stronger than a real crash, where the row is written before the card is credited):
    // it finds the item committed, credits the same card under the same operation id, and pays nothing again.
    await env.DB.prepare(
      "UPDATE campaign_events SET status = 'evaluating', claimed_until = '2020-01-01T00:00:00.000Z', response = NULL WHERE org = ? AND id = ?",
    )
      .bind(s.org, event.id)
      .run();
    await env.DB.prepare("DELETE FROM campaign_outcomes WHERE org = ? AND event_id = ? AND campaign_id = ?").bind(s.org, event.id, creditor).run();
    const rerun = await postEvent(s.tokens.integrator, event);
    expect(rerun.body.outcomes.find((o: { campaign_id: string }) => o.campaign_id === creditor)).toEqual(outcome);
    const after = (await callJson(`/v1/cards/${cardId}`, { token: s.tokens.support })).body;
    expect(after.balance).toMatchObject({ credited: 1_000, available: 3_500 });
    expect(after.buckets.filter((b: { kind: string }) => b.kind === "bonus")).toHaveLength(1);
    expect(await committed(s)).toBe(before + 1_000);
    const campaign = (await callJson(`/v1/campaigns/${creditor}`, { token: s.tokens.operator })).body;
    expect(campaign.budget).toMatchObject({ committed: 1_000 });
    expect(campaign.reward).toEqual({ kind: "card_credit", product_id: null, channel: "email", amount: 1_000, expires: { at_local_time: "24:00" } });

    // The card received what the pool committed for it: reconciliation finds nothing.
    expect(await findingsOf(s.org, (await reconcile(s.org)).id)).toEqual([]);
  });

  it("skips a customer without a card (no_card) and leaves the budget untouched; caps and the budget apply", async () => {
    const { s, issuer, creditor } = await setup("ccnone", {}, { budget: { amount: 1_500 }, limits: { per_customer: { count: 1, period: "day" } } });
    const none = await postEvent(s.tokens.integrator, orderPaid());
    expect(none.body.outcomes).toEqual([{ campaign_id: creditor, outcome: "skipped", reason: "no_card" }]);
    const record = (await callJson(`/v1/events/${none.body.id}`, { token: s.tokens.support })).body;
    expect(record.outcomes[0]).toMatchObject({ reason: "no_card", detail: "No active USD card for this customer" });
    let campaign = (await callJson(`/v1/campaigns/${creditor}`, { token: s.tokens.operator })).body;
    expect(campaign.budget).toMatchObject({ committed: 0, remaining: 1_500 });
    expect(campaign.counts.skipped.no_card).toBe(1);

    const a = { external_id: "A-1", email: "a1@example.com" };
    const b = { external_id: "B-1", email: "b1@example.com" };
    const cardA = await issuedCard(s, issuer, a);
    await issuedCard(s, issuer, b);
    const first = await postEvent(s.tokens.integrator, orderPaid(a));
    expect(first.body.outcomes[0]).toMatchObject({ outcome: "rewarded", card_id: cardA });
    // The per-customer cap: once a day.
    const second = await postEvent(s.tokens.integrator, orderPaid(a));
    expect(second.body.outcomes[0]).toMatchObject({ outcome: "skipped", reason: "customer_cap" });
    // The budget: 500 left of 1,500.
    const third = await postEvent(s.tokens.integrator, orderPaid(b));
    expect(third.body.outcomes[0]).toMatchObject({ outcome: "skipped", reason: "budget_exhausted" });
    campaign = (await callJson(`/v1/campaigns/${creditor}`, { token: s.tokens.operator })).body;
    expect(campaign.budget).toMatchObject({ committed: 1_000 });
    expect(campaign.counts).toMatchObject({ rewarded: 1, skipped: { no_card: 1, customer_cap: 1, budget_exhausted: 1 } });
  });

  it("issues a new card instead when the campaign says fallback: issue_card, and credits it next time", async () => {
    const s = await campaignSetup(uniqueOrg("ccfall"));
    const creditor = await activeCampaign(s, {
      name: "Bonus or card",
      ...credit({ product_id: s.productId, fallback: "issue_card" }),
      budget: { amount: 10_000 },
    });
    const a = { external_id: "F-1", email: "f1@example.com" };
    const first = await postEvent(s.tokens.integrator, orderPaid(a));
    expect(first.body.outcomes).toEqual([{ campaign_id: creditor, outcome: "rewarded", delivery_id: expect.stringMatching(/^dlv_/) }]);
    expect(await delivered([first.body.outcomes[0].delivery_id])).toBe(1);
    const cardId = (await env.DB.prepare("SELECT card_id FROM deliveries WHERE id = ?").bind(first.body.outcomes[0].delivery_id).first<{ card_id: string }>())!
      .card_id;
    expect((await callJson(`/v1/cards/${cardId}`, { token: s.tokens.support })).body.balance).toMatchObject({ issued: 1_000, credited: 0 });
    const second = await postEvent(s.tokens.integrator, orderPaid(a));
    expect(second.body.outcomes[0]).toMatchObject({ outcome: "rewarded", card_id: cardId });
    expect((await callJson(`/v1/cards/${cardId}`, { token: s.tokens.support })).body.balance).toMatchObject({ issued: 1_000, credited: 1_000 });
    const campaign = (await callJson(`/v1/campaigns/${creditor}`, { token: s.tokens.operator })).body;
    expect(campaign.budget).toMatchObject({ committed: 2_000 });
    expect(campaign.reward).toMatchObject({ kind: "card_credit", product_id: s.productId, fallback: "issue_card" });
    expect(await findingsOf(s.org, (await reconcile(s.org)).id)).toEqual([]);
  });

  it("gives the value back when the card refuses the credit after the pool committed it", async () => {
    const { s, issuer, creditor } = await setup("ccrefuse");
    const a = { external_id: "R-1", email: "r1@example.com" };
    const cardId = await issuedCard(s, issuer, a);
    const deliveryId = cardId.replace(/^card_/, "dlv_");
    expect((await callJson(`/v1/deliveries/${deliveryId}/reverse`, { method: "POST", token: s.tokens.finance, body: { reason: "fraud" } })).status).toBe(200);
    // The D1 row still says active (as if the reversal landed between the search and the credit): the card's object refuses.
    await env.DB.prepare("UPDATE cards SET status = 'active' WHERE id = ?").bind(cardId).run();
    const before = await committed(s);
    const event = orderPaid(a);
    const res = await postEvent(s.tokens.integrator, event);
    expect(res.body.outcomes).toEqual([{ campaign_id: creditor, outcome: "skipped", reason: "no_card" }]);
    const record = (await callJson(`/v1/events/${event.id}`, { token: s.tokens.support })).body;
    expect(record.outcomes[0]).toMatchObject({
      outcome: "skipped",
      reason: "no_card",
      card_id: cardId,
      detail: `Card ${cardId} refused the credit: card_reversed`,
    });
    expect(await committed(s)).toBe(before);
    const campaign = (await callJson(`/v1/campaigns/${creditor}`, { token: s.tokens.operator })).body;
    expect(campaign.budget).toMatchObject({ committed: 0, remaining: 10_000 });
    expect(campaign.counts).toMatchObject({ rewarded: 0, skipped: { no_card: 1 } });
    expect((await callJson(`/v1/cards/${cardId}`, { token: s.tokens.support })).body.balance).toMatchObject({ credited: 0 });
  });

  it("credits only cards of the named product and currency, the newest first, and never a frozen one", async () => {
    const { s, issuer, creditor } = await setup("ccpick");
    const a = { external_id: "P-1", email: "p1@example.com" };
    const older = await issuedCard(s, issuer, a);
    const newer = await issuedCard(s, issuer, a);
    expect(newer).not.toBe(older);
    const first = await postEvent(s.tokens.integrator, orderPaid(a));
    expect(first.body.outcomes[0]).toMatchObject({ outcome: "rewarded", card_id: newer });
    // The newest card frozen: the older one is credited.
    expect((await callJson(`/v1/cards/${newer}/freeze`, { method: "POST", token: s.tokens.support, body: { reason: "lost" } })).status).toBe(200);
    const second = await postEvent(s.tokens.integrator, orderPaid(a));
    expect(second.body.outcomes[0]).toMatchObject({ outcome: "rewarded", card_id: older });
    // A campaign that names a product other than the customer's cards' finds none.
    const other = await callJson("/v1/products", {
      token: s.tokens.admin,
      body: { name: "Other card", kind: "stored_value", currency: "USD", min_amount: 100, max_amount: 100_000, countries: ["US"] },
    });
    expect(other.status).toBe(201);
    const strict = await activeCampaign(s, { name: "Strict", trigger: { event: "order.shipped" }, ...credit({ product_id: other.body.id }) });
    const shipped = await postEvent(s.tokens.integrator, { ...orderPaid(a), type: "order.shipped" });
    expect(shipped.body.outcomes).toEqual([{ campaign_id: strict, outcome: "skipped", reason: "no_card" }]);
    // A campaign paying in EUR finds none of the customer's USD cards.
    const eur = await createPool(s.org, { currency: "EUR", fund: 100_000 });
    const euro = await activeCampaign(s, { name: "Euro bonus", trigger: { event: "order.returned" }, pool_id: eur.id, ...credit() });
    const returned = await postEvent(s.tokens.integrator, { ...orderPaid(a), type: "order.returned" });
    expect(returned.body.outcomes).toEqual([{ campaign_id: euro, outcome: "skipped", reason: "no_card" }]);
    expect((await callJson(`/v1/cards/${older}`, { token: s.tokens.support })).body.balance).toMatchObject({ credited: 1_000 });
    void creditor;
  });

  it("lets an expired bonus go as breakage: nothing returns to the pool, and reconciliation still adds up", async () => {
    const { s, issuer, creditor } = await setup("ccbreak", { expires: { after_hours: 1 } });
    const a = { external_id: "E-1", email: "e1@example.com" };
    const cardId = await issuedCard(s, issuer, a);
    // An event 59 min 58 s old: its credit expires 2 s from now.
    const event = orderPaid({ ...a, occurred_at: new Date(Date.now() - 3_598_000).toISOString() });
    const res = await postEvent(s.tokens.integrator, event);
    expect(res.body.outcomes[0]).toMatchObject({ campaign_id: creditor, outcome: "rewarded", card_id: cardId });
    const before = (await poolBalance(s.poolId)) as { committed: number; available: number };
    await new Promise((r) => setTimeout(r, 2_500));
    const card = (await callJson(`/v1/cards/${cardId}`, { token: s.tokens.support })).body;
    expect(card.buckets.find((b: { kind: string }) => b.kind === "bonus")).toMatchObject({ state: "expired", remaining: 0 });
    expect(card.balance).toMatchObject({ credited: 1_000, expired: 1_000, available: 2_500 });
    const after = (await poolBalance(s.poolId)) as { committed: number; available: number };
    expect(after).toMatchObject({ committed: before.committed, available: before.available });
    expect(await findingsOf(s.org, (await reconcile(s.org)).id)).toEqual([]);
    // An event so old that its credit would already have expired is skipped before anything is committed.
    const late = await postEvent(s.tokens.integrator, orderPaid({ ...a, occurred_at: new Date(Date.now() - 2 * 3_600_000).toISOString() }));
    expect(late.body.outcomes[0]).toMatchObject({ outcome: "skipped", reason: "outside_window" });
    expect(((await poolBalance(s.poolId)) as { committed: number }).committed).toBe(before.committed);
  });

  it("caps the credit's expiry at the card's own, in the event's record and the notice alike", async () => {
    const s = await campaignSetup(uniqueOrg("cccap"));
    const issuer = await activeCampaign(s, {
      name: "Day card",
      trigger: { event: "signup" },
      reward: { product_id: s.productId, channel: "email", amount: 2_500, expires_after_days: 1 },
    });
    await activeCampaign(s, { name: "Two-day bonus", ...credit({ expires: { after_hours: 48 } }), budget: { amount: 10_000 } });
    const a = { external_id: "CAP-1", email: "cap1@example.com" };
    const cardId = await issuedCard(s, issuer, a);
    const cardEnd = (await env.DB.prepare("SELECT expires_at FROM cards WHERE id = ?").bind(cardId).first<{ expires_at: string }>())!.expires_at;
    const event = orderPaid(a);
    expect((await postEvent(s.tokens.integrator, event)).body.outcomes[0]).toMatchObject({ outcome: "rewarded", card_id: cardId });
    const record = (await callJson(`/v1/events/${event.id}`, { token: s.tokens.support })).body;
    expect(Date.parse(record.outcomes[0].credit_expires_at)).toBe(Date.parse(cardEnd));
    const card = (await callJson(`/v1/cards/${cardId}`, { token: s.tokens.support })).body;
    expect(Date.parse(card.buckets.find((b: { kind: string }) => b.kind === "bonus").expires_at)).toBe(Date.parse(cardEnd));
  });

  it("keeps a campaign's reward kind and product once it has been activated", async () => {
    const { s, creditor } = await setup("ccfixed");
    expect((await callJson(`/v1/campaigns/${creditor}/pause`, { method: "POST", token: s.tokens.operator })).status).toBe(200);
    const patch = (reward: Record<string, unknown>) => callJson(`/v1/campaigns/${creditor}`, { method: "PATCH", token: s.tokens.operator, body: { reward } });
    const toCard = await patch({ product_id: s.productId, channel: "email", amount: 1_000 });
    expect(toCard.status).toBe(400);
    expect(toCard.body.errors).toEqual([expect.objectContaining({ pointer: "/reward/kind", code: "immutable" })]);
    const toProduct = await patch({ ...credit().reward, product_id: s.productId });
    expect(toProduct.body.errors).toEqual([expect.objectContaining({ pointer: "/reward/product_id" })]);
    expect((await patch({ ...credit().reward, amount: 1_500 })).status).toBe(200); // amounts may change while paused
  });

  it("finds the customer's card, zone and card rows through indexes, never reading a table whole", async () => {
    const { s, issuer } = await setup("ccplan");
    const a = { external_id: "Q-1", email: "q1@example.com" };
    await issuedCard(s, issuer, a);
    const rec = recordPrepared();
    try {
      const res = await postEvent(s.tokens.integrator, orderPaid(a));
      expect(res.body.outcomes[0]).toMatchObject({ outcome: "rewarded" });
    } finally {
      rec.stop();
    }
    const mine = [...rec.seen].filter((q) => /FROM cards WHERE id IN|time_zone FROM customers|JOIN batch_recipients r ON r\.email_key/.test(q));
    expect(mine).toHaveLength(3);
    const tables = await tableNames();
    for (const q of mine) expect(await tableScans(q, tables), q).toEqual([]);
    // The card search probes each index with its whole key, starting from the request's customers.
    const cards = (await plan(mine.find((q) => q.includes("batch_recipients r ON r.email_key"))!)).join("\n");
    for (const probe of [
      "campaign_outcomes_org_customer (org=? AND customer_key=?)",
      "campaign_outcomes_external (org=? AND external_id=?)",
      "batch_recipients_email (email_key=?)",
      "batch_recipients_phone (phone_key=?)",
      "batch_recipients_external (batch_ref=? AND external_id=?)",
      "deliveries_recipient (recipient_id=?)",
    ])
      expect(cards).toContain(probe);
  });

  it("validates the reward's shape with pointers", async () => {
    const s = await campaignSetup(uniqueOrg("ccval"));
    const create = (reward: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      callJson("/v1/campaigns", { token: s.tokens.operator, body: s.body({ reward, ...extra }) });
    const pointers = (r: { body: { errors?: { pointer: string }[] } }) => r.body.errors?.map((e) => e.pointer);
    const base = { kind: "card_credit", channel: "email", amount: 1_000 };
    let r = await create(base);
    expect([r.status, r.body.code, pointers(r)]).toEqual([400, "validation_failed", ["/reward/expires"]]);
    r = await create({ ...base, channel: "link", expires: { after_hours: 24 } });
    expect(pointers(r)).toEqual(["/reward/channel"]);
    r = await create({ ...base, expires: { at: "2020-01-01T00:00:00Z" } });
    expect(pointers(r)).toEqual(["/reward/expires/at"]);
    r = await create({ ...base, expires: { after_hours: 24 } }, { approval: { at_or_above: 500 } });
    expect(pointers(r)).toEqual(["/approval"]);
    r = await create({ ...base, expires: { at_local_time: "25:00" } });
    expect([r.status, r.body.code]).toEqual([400, "validation_failed"]);
    r = await create({ product_id: s.productId, channel: "email", amount: 1_000, expires: { after_hours: 24 } });
    expect(pointers(r)).toEqual(["/reward/expires"]);
    r = await create({ channel: "email", amount: 1_000 });
    expect(pointers(r)).toEqual(["/reward/product_id"]);
    r = await create({ ...base, expires: { after_hours: 24 }, fallback: "issue_card" });
    expect(pointers(r)).toEqual(["/reward/product_id"]);
    r = await create({ product_id: s.productId, channel: "email", amount: 1_000, fallback: "issue_card" });
    expect(pointers(r)).toEqual(["/reward/fallback"]);
    // A card it may issue is bound by the product's range (100–100,000 here); a plain credit is not.
    r = await create({ ...base, amount: 200_000, product_id: s.productId, expires: { after_hours: 24 }, fallback: "issue_card" });
    expect(pointers(r)).toEqual(["/reward/amount"]);
    r = await create({ ...base, amount: 200_000, product_id: s.productId, expires: { after_hours: 24 } });
    expect(r.status).toBe(201);
    r = await create({ ...base, expires: { at_local_time: "23:59:59" } });
    expect(r.status).toBe(201);
    expect(r.body.reward).toEqual({ kind: "card_credit", product_id: null, channel: "email", amount: 1_000, expires: { at_local_time: "23:59:59" } });
  });
});
