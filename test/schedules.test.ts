import { env } from "cloudflare:workers";
import { Cron } from "croner";
import { describe, expect, it } from "vitest";
import { addDays } from "../src/core/time-zones";
import { runPage } from "../src/schedules/run-step";
import { callJson, uniqueOrg } from "./helpers/api";
import { plan, recordPrepared } from "./helpers/query-plans";
import { createProduct } from "./helpers/batch-factories";
import { activeCampaign, campaignSetup } from "./helpers/campaign-factories";
import { outcomesByCustomer, putProfile, runsOf, seedSegment, tickAt, yearFrom } from "./helpers/schedule-factories";

const NEXT_YEAR = new Date().getUTCFullYear() + 1;
const birthday = { kind: "date_attribute", attribute: "birthday" };

async function waitDelivered(campaignId: string, n: number) {
  const until = Date.now() + 20_000;
  for (;;) {
    const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE campaign_id = ? AND status = 'delivered'")
      .bind(campaignId)
      .first<{ n: number }>();
    if (row!.n >= n || Date.now() > until) return row!.n;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("date_attribute trigger", () => {
  it("rewards a birthday on the customer's local date, from Kiritimati (UTC+14) to Pago Pago (UTC−11), once", async () => {
    const s = await campaignSetup(uniqueOrg("bday"));
    const id = await activeCampaign(s, { trigger: birthday, reward: { product_id: s.productId, channel: "email", amount: 1000, expires_after_days: 7 } });
    const X = `${NEXT_YEAR}-03-15`;
    await putProfile(s.org, { external_id: "K", email: "k@example.com", time_zone: "Pacific/Kiritimati", attributes: { birthday: "1990-03-15" } });
    await putProfile(s.org, { external_id: "P", email: "p@example.com", time_zone: "Pacific/Pago_Pago", attributes: { birthday: "1985-03-15" } });
    await putProfile(s.org, { external_id: "U", email: "u@example.com", attributes: { birthday: "--03-15", tier: "gold" } });
    await putProfile(s.org, { external_id: "O", email: "o@example.com", time_zone: "Pacific/Kiritimati", attributes: { birthday: "1990-03-16" } });
    await putProfile(s.org, { external_id: "N", email: "n@example.com", attributes: { birthday: `${NEXT_YEAR}-03-15` } });

    // X 00:05 UTC: X has begun in the org's zone (UTC) and everywhere east of it: U, and K (14:05 in
    // Kiritimati). In Pago Pago it is still X−1 (13:05): P waits for the instant X begins there.
    await tickAt(`${X}T00:05:00Z`, id);
    expect(await outcomesByCustomer(id)).toEqual({ K: ["rewarded"], U: ["rewarded"] });
    const run = (await runsOf(id)).find((r) => r.occurrence === X)!;
    // N was born on X itself: a dated value's anniversaries start the year after, so N is passed over.
    expect(run).toMatchObject({ status: "done", evaluated: 2, rewarded: 2, waiting: 1, missed: 0 });
    const waits = await env.DB.prepare("SELECT due_at, external_ids FROM campaign_run_waits WHERE campaign_id = ? ORDER BY due_at").bind(id).all();
    expect(waits.results).toEqual([{ due_at: `${X}T11:00:00.000Z`, external_ids: JSON.stringify(["P"]) }]);
    // X 11:05 UTC: P's day has begun (00:05 in Pago Pago).
    await tickAt(`${X}T11:05:00Z`, id);
    expect(await outcomesByCustomer(id)).toEqual({ K: ["rewarded"], P: ["rewarded"], U: ["rewarded"] });
    // X+1 00:05 UTC: O's birthday (X+1), in Kiritimati since X 10:00 UTC and until X+1 10:00 UTC.
    await tickAt(`${addDays(X, 1)}T00:05:00Z`, id);
    expect(await outcomesByCustomer(id)).toEqual({ K: ["rewarded"], O: ["rewarded"], P: ["rewarded"], U: ["rewarded"] });
    expect((await runsOf(id)).find((r) => r.occurrence === X)).toMatchObject({ evaluated: 3, rewarded: 3, waiting: 0 });

    const ev = await callJson(`/v1/events/${encodeURIComponent(`date:${id}:birthday:${NEXT_YEAR}:P`)}`, { token: s.tokens.support });
    expect(ev.status).toBe(200);
    expect(ev.body).toMatchObject({
      type: "date_attribute",
      occurred_at: `${X}T11:00:00.000Z`,
      outcomes: [{ campaign_id: id, outcome: "rewarded", amount: 1000 }],
    });

    // The campaign's own card validity: 7 days from issue, though the product has none.
    expect(await waitDelivered(id, 4)).toBe(4);
    const card = await env.DB.prepare("SELECT c.expires_at FROM cards c JOIN deliveries d ON d.card_id = c.id WHERE d.campaign_id = ? LIMIT 1")
      .bind(id)
      .first<{ expires_at: string }>();
    expect(Math.abs(Date.parse(card!.expires_at) - (Date.now() + 7 * 86_400_000))).toBeLessThan(120_000);
  });

  it("rewards nobody twice when the same tick runs again or a run's pages are applied again", async () => {
    const s = await campaignSetup(uniqueOrg("bday"));
    const id = await activeCampaign(s, { trigger: birthday });
    const X = `${NEXT_YEAR}-05-20`;
    for (let i = 0; i < 60; i++)
      await putProfile(s.org, { external_id: `C${String(i).padStart(2, "0")}`, email: `c${i}@example.com`, attributes: { birthday: "1990-05-20" } });
    const at = `${X}T12:00:00Z`;
    const first = await tickAt(at, id);
    expect(first.started).toBeGreaterThan(0);
    const again = await tickAt(at, id);
    expect(again.started).toBe(0);
    const run = (await runsOf(id)).find((r) => r.occurrence === X)!;
    // 60 customers: two pages of at most 50.
    expect(run).toMatchObject({ status: "done", step: 2, evaluated: 60, rewarded: 60 });
    // A crash that lost the run's progress: every page is applied again, and the event ids answer what was decided.
    await env.DB.prepare("UPDATE campaign_runs SET status = 'running', cursor = NULL WHERE campaign_id = ? AND occurrence = ?").bind(id, X).run();
    expect(await runPage(env, id, X)).toBe("more");
    expect(await runPage(env, id, X)).toBe("done");
    const counted = await env.DB.prepare("SELECT COUNT(*) AS n, COUNT(DISTINCT external_id) AS customers FROM campaign_outcomes WHERE campaign_id = ?")
      .bind(id)
      .first();
    expect(counted).toEqual({ n: 60, customers: 60 });
    const view = await callJson(`/v1/campaigns/${id}`, { token: s.tokens.support });
    expect(view.body.budget.committed).toBe(60_000);
    expect(await waitDelivered(id, 60)).toBe(60);
  });

  it("celebrates February 29 on February 28 in common years and on the 29th in leap years", async () => {
    const s = await campaignSetup(uniqueOrg("feb29"));
    const id = await activeCampaign(s, { trigger: birthday });
    await putProfile(s.org, { external_id: "F", email: "f@example.com", attributes: { birthday: "2000-02-29" } });
    await putProfile(s.org, { external_id: "G", email: "g@example.com", attributes: { birthday: "1990-02-28" } });
    await putProfile(s.org, { external_id: "H", email: "h@example.com", attributes: { birthday: "1990-03-01" } });
    const common = yearFrom(NEXT_YEAR, false);
    const leap = yearFrom(NEXT_YEAR, true);
    await tickAt(`${common}-02-28T12:30:00Z`, id);
    expect(await outcomesByCustomer(id)).toEqual({ F: ["rewarded"], G: ["rewarded"] });
    await tickAt(`${leap}-02-28T12:30:00Z`, id);
    expect(await outcomesByCustomer(id)).toEqual({ F: ["rewarded"], G: ["rewarded", "rewarded"] });
    await tickAt(`${leap}-02-29T12:30:00Z`, id);
    expect(await outcomesByCustomer(id)).toEqual({ F: ["rewarded", "rewarded"], G: ["rewarded", "rewarded"] });
    const ids = await env.DB.prepare("SELECT event_id FROM campaign_outcomes WHERE campaign_id = ? AND external_id = 'F' ORDER BY event_id").bind(id).all();
    expect(ids.results.map((r) => r.event_id)).toEqual([`date:${id}:birthday:${common}:F`, `date:${id}:birthday:${leap}:F`]);
  });
});

describe("inactivity trigger", () => {
  it("rewards once per inactivity period: the inactive at launch, then each customer as they cross the threshold", async () => {
    const s = await campaignSetup(uniqueOrg("idle"));
    const id = await activeCampaign(s, { trigger: { kind: "inactivity", days: 30 } });
    const T = Date.parse(`${NEXT_YEAR}-06-10T00:02:00Z`);
    const daysBefore = (d: number) => new Date(T - d * 86_400_000).toISOString();
    await putProfile(s.org, { external_id: "A", email: "a@example.com" }, daysBefore(45));
    await putProfile(s.org, { external_id: "B", email: "b@example.com" }, daysBefore(10));
    await putProfile(s.org, { external_id: "C", email: "c@example.com" });
    await tickAt(new Date(T).toISOString(), id);
    expect(await outcomesByCustomer(id)).toEqual({ A: ["rewarded"] });
    // 21 days on, B's last event is 31 days old; A is still inactive but this period was rewarded.
    await tickAt(new Date(T + 21 * 86_400_000).toISOString(), id);
    expect(await outcomesByCustomer(id)).toEqual({ A: ["rewarded"], B: ["rewarded"] });
    // A comes back on day 25, then goes quiet again: a new period, a new reward.
    await putProfile(s.org, { external_id: "A" }, new Date(T + 25 * 86_400_000).toISOString());
    await tickAt(new Date(T + 40 * 86_400_000).toISOString(), id);
    expect(await outcomesByCustomer(id)).toEqual({ A: ["rewarded"], B: ["rewarded"] });
    await tickAt(new Date(T + 60 * 86_400_000).toISOString(), id);
    expect(await outcomesByCustomer(id)).toEqual({ A: ["rewarded", "rewarded"], B: ["rewarded"] });
    const runs = await runsOf(id);
    expect(runs.map((r) => JSON.parse(r.params))).toEqual([
      { days: 30, from: "", to: `${NEXT_YEAR}-05-11T00:00:00.000Z` },
      { days: 30, from: `${NEXT_YEAR}-05-11T00:00:00.000Z`, to: `${NEXT_YEAR}-06-01T00:00:00.000Z` },
      { days: 30, from: `${NEXT_YEAR}-06-01T00:00:00.000Z`, to: `${NEXT_YEAR}-06-20T00:00:00.000Z` },
      { days: 30, from: `${NEXT_YEAR}-06-20T00:00:00.000Z`, to: `${NEXT_YEAR}-07-10T00:00:00.000Z` },
    ]);
  });
});

describe("schedule trigger", () => {
  it("rewards the segment's members at each cron occurrence, in the org's time zone", async () => {
    const s = await campaignSetup(uniqueOrg("sched"));
    const put = await callJson("/v1/settings", { method: "PUT", token: s.tokens.admin, body: { time_zone: "America/New_York" } });
    expect(put.status).toBe(200);
    expect(put.body.time_zone).toBe("America/New_York");
    await seedSegment(s.org, "seg_gold", { M1: true, M2: true, M3: false });
    for (const m of ["M1", "M2", "M3"]) await putProfile(s.org, { external_id: m, email: `${m.toLowerCase()}@example.com` });
    const id = await activeCampaign(s, { trigger: { kind: "schedule", cron: "0 9 * * 1", segment_id: "seg_gold" } });
    const next = new Cron("0 9 * * 1", { timezone: "America/New_York", mode: "5-part" }).nextRun(new Date())!;
    const row = await env.DB.prepare("SELECT next_occurrence, next_at FROM campaign_schedules WHERE campaign_id = ?").bind(id).first();
    expect(row).toEqual({ next_occurrence: next.toISOString(), next_at: next.toISOString() });
    expect([13, 14]).toContain(next.getUTCHours()); // 09:00 in New York

    expect((await tickAt(new Date(next.getTime() - 60_000).toISOString(), id)).started).toBe(0);
    await tickAt(new Date(next.getTime() + 120_000).toISOString(), id);
    expect(await outcomesByCustomer(id)).toEqual({ M1: ["rewarded"], M2: ["rewarded"] });
    const record = await callJson(`/v1/events/${encodeURIComponent(`schedule:${id}:${next.toISOString()}:M1`)}`, { token: s.tokens.support });
    expect(record.body).toMatchObject({ type: "schedule", outcomes: [{ outcome: "rewarded" }] });
    // The next Monday is a new occurrence: the members are rewarded again.
    await tickAt(new Date(next.getTime() + 7 * 86_400_000 + 60_000).toISOString(), id);
    expect(await outcomesByCustomer(id)).toEqual({ M1: ["rewarded", "rewarded"], M2: ["rewarded", "rewarded"] });
  });

  it("runs nothing while the campaign is a draft or paused", async () => {
    const s = await campaignSetup(uniqueOrg("sched"));
    await seedSegment(s.org, "seg_all", { M1: true });
    await putProfile(s.org, { external_id: "M1", email: "m1@example.com" });
    const id = await activeCampaign(s, { trigger: { kind: "schedule", cron: "0 12 * * *", segment_id: "seg_all" } });
    await callJson(`/v1/campaigns/${id}/pause`, { method: "POST", token: s.tokens.operator });
    const next = new Cron("0 12 * * *", { timezone: "UTC", mode: "5-part" }).nextRun(new Date())!;
    await tickAt(new Date(next.getTime() + 60_000).toISOString(), id);
    expect(await runsOf(id)).toEqual([]);
    expect(await outcomesByCustomer(id)).toEqual({});
  });
});

describe("a broken schedule", () => {
  it("is put off an hour and does not hold up the other campaigns", async () => {
    const s = await campaignSetup(uniqueOrg("broken"));
    await seedSegment(s.org, "seg_b", { B1: true });
    await putProfile(s.org, { external_id: "B1", email: "b1@example.com" });
    const broken = await activeCampaign(s, { trigger: { kind: "schedule", cron: "0 7 * * *", segment_id: "seg_b" } });
    const fine = await activeCampaign(s, { trigger: { kind: "schedule", cron: "0 7 * * *", segment_id: "seg_b" } });
    // A stored trigger that no longer parses (written before a validation existed, say).
    await env.DB.prepare("UPDATE campaigns SET trigger = ? WHERE id = ?")
      .bind(JSON.stringify({ kind: "schedule", cron: "0 7 * * * *", segment_id: "seg_b" }), broken)
      .run();
    const next = new Cron("0 7 * * *", { timezone: "UTC", mode: "5-part" }).nextRun(new Date())!;
    const at = new Date(next.getTime() + 60_000);
    await tickAt(at.toISOString());
    expect(await outcomesByCustomer(fine)).toEqual({ B1: ["rewarded"] });
    expect(await outcomesByCustomer(broken)).toEqual({});
    const row = await env.DB.prepare("SELECT next_at FROM campaign_schedules WHERE campaign_id = ?").bind(broken).first();
    expect(row).toEqual({ next_at: new Date(at.getTime() + 3_600_000).toISOString() });
  });
});

describe("scheduled trigger validation", () => {
  it("refuses a bad cron, an unknown segment, days out of range and a bad attribute name, pointing at the field", async () => {
    const s = await campaignSetup(uniqueOrg("trig"));
    await seedSegment(s.org, "seg_ok", {});
    const pointer = async (trigger: unknown) => {
      const r = await callJson("/v1/campaigns", { token: s.tokens.operator, body: s.body({ trigger }) });
      expect(r.status).toBe(400);
      expect(r.res.headers.get("content-type")).toContain("application/problem+json");
      return r.body.errors.map((e: any) => e.pointer);
    };
    expect(await pointer({ kind: "schedule", cron: "61 * * * *", segment_id: "seg_ok" })).toEqual(["/trigger/cron"]);
    expect(await pointer({ kind: "schedule", cron: "0 9 * * 1 2026", segment_id: "seg_ok" })).toEqual(["/trigger/cron"]);
    expect(await pointer({ kind: "schedule", cron: "0 0 30 2 *", segment_id: "seg_ok" })).toEqual(["/trigger/cron"]);
    expect(await pointer({ kind: "schedule", cron: "0 9 * * 1", segment_id: "seg_other" })).toEqual(["/trigger/segment_id"]);
    expect(await pointer({ kind: "inactivity", days: 0 })).toEqual(["/trigger/days"]);
    expect(await pointer({ kind: "inactivity", days: 3651 })).toEqual(["/trigger/days"]);
    expect(await pointer({ kind: "date_attribute", attribute: "9 lives" })).toEqual(["/trigger/attribute"]);
    const ok = await callJson("/v1/campaigns", {
      token: s.tokens.operator,
      body: s.body({ trigger: { kind: "schedule", cron: "0 9 * * MON#1", segment_id: "seg_ok" } }),
    });
    expect(ok.status).toBe(201);
    const patched = await callJson(`/v1/campaigns/${ok.body.id}`, {
      method: "PATCH",
      token: s.tokens.operator,
      body: { trigger: { kind: "schedule", cron: "0 25 * * *", segment_id: "seg_ok" } },
    });
    expect(patched.status).toBe(400);
    expect(patched.body.errors[0].pointer).toBe("/trigger/cron");
    // Back to an event trigger: the schedule row goes.
    const toEvent = await callJson(`/v1/campaigns/${ok.body.id}`, { method: "PATCH", token: s.tokens.operator, body: { trigger: { event: "order.paid" } } });
    expect(toEvent.status).toBe(200);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM campaign_schedules WHERE campaign_id = ?").bind(ok.body.id).first("n")).toBe(0);
  });

  it("refuses a card validity on an inventory product and an unknown org time zone", async () => {
    const s = await campaignSetup(uniqueOrg("trig"));
    const inventory = await createProduct(s.tokens.admin, { kind: "inventory", min_amount: 100, max_amount: 100_000 });
    const r = await callJson("/v1/campaigns", {
      token: s.tokens.operator,
      body: s.body({ reward: { product_id: inventory, channel: "email", amount: 1000, expires_after_days: 7 } }),
    });
    expect(r.status).toBe(400);
    expect(r.body.errors[0].pointer).toBe("/reward/expires_after_days");
    const bad = await callJson("/v1/settings", { method: "PUT", token: s.tokens.admin, body: { time_zone: "Mars/Olympus_Mons" } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].pointer).toBe("/time_zone");
    const got = await callJson("/v1/settings", { token: s.tokens.admin });
    expect(got.body.time_zone).toBe("UTC");
  });
});

describe("scheduled runs' query plans", () => {
  it("read customers, their dates, segments and run state through indexes only", async () => {
    const { seen, stop } = recordPrepared();
    try {
      const s = await campaignSetup(uniqueOrg("plans"));
      await seedSegment(s.org, "seg_p", { M1: true });
      await putProfile(
        s.org,
        { external_id: "M1", email: "m1@example.com", time_zone: "Pacific/Pago_Pago", attributes: { birthday: "1990-08-08" } },
        "2020-01-01T00:00:00Z",
      );
      const bday = await activeCampaign(s, { trigger: birthday });
      const idle = await activeCampaign(s, { trigger: { kind: "inactivity", days: 30 } });
      const sched = await activeCampaign(s, { trigger: { kind: "schedule", cron: "0 6 * * *", segment_id: "seg_p" } });
      await tickAt(`${NEXT_YEAR}-08-08T06:01:00Z`, bday);
      await tickAt(`${NEXT_YEAR}-08-08T11:05:00Z`, bday);
      expect(Object.keys(await outcomesByCustomer(bday))).toEqual(["M1"]);
      expect(Object.keys(await outcomesByCustomer(idle))).toEqual(["M1"]);
      expect(Object.keys(await outcomesByCustomer(sched))).toEqual(["M1"]);
    } finally {
      stop();
    }
    const mine = /\b(customer_dates|customers|segment_members|campaign_schedules|campaign_runs|campaign_run_waits)\b/;
    const scans: string[] = [];
    for (const sql of seen) {
      if (!mine.test(sql) || /^\s*(INSERT|DELETE)/i.test(sql) || sql.includes("/* test helper */")) continue;
      for (const line of await plan(sql))
        if (/^SCAN (customers|customer_dates|segment_members|campaign_\w+|c|d|m|s)\b/.test(line)) scans.push(`${line} ← ${sql}`);
    }
    expect(scans).toEqual([]);
  });
});
