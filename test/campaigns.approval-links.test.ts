/**
 * Campaign rewards pending approval go through the approval-link machinery: one email per approver
 * per campaign day with a signed link, a page listing the day's rewards, one decision per link,
 * the org's policy steps, four-eyes and suspended approvers refused.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signApprovalToken } from "../src/approvals/tokens";
import { call, callJson, token, uniqueOrg } from "./helpers/api";
import { linksTo, page } from "./helpers/approval-factories";
import { enrolAndConfirm } from "./helpers/approver-factories";
import { recordPrepared, tableNames, tableScans } from "./helpers/query-plans";
import { campaignSetup, orderPaid, postEvent } from "./helpers/campaign-factories";

type Step = { role: string; quorum?: number; min_total?: number };

/**
 * A funded campaign created by cora (operator and finance, enrolled as a finance approver: four-eyes
 * must keep her out), approval from 1,000, reward 5,000; fran and fay (finance) and olga (owner) enrolled.
 */
async function approvalCampaign(steps: Step[] = [{ role: "finance", quorum: 1 }]) {
  const org = uniqueOrg("cal");
  const s = await campaignSetup(org);
  const tokens = {
    ...s.tokens,
    cora: await token({ org, sub: "cora", roles: ["operator", "finance"] }),
    fay: await token({ org, sub: "fay", roles: ["finance"] }),
    olga: await token({ org, sub: "olga", roles: ["owner"] }),
  };
  const emails = { fran: `fran@${org}.example.com`, fay: `fay@${org}.example.com`, olga: `olga@${org}.example.com`, cora: `cora@${org}.example.com` };
  await enrolAndConfirm(tokens.finance, emails.fran);
  await enrolAndConfirm(tokens.fay, emails.fay);
  await enrolAndConfirm(tokens.olga, emails.olga);
  await enrolAndConfirm(tokens.cora, emails.cora);
  const settings = await callJson("/v1/settings", { method: "PUT", token: tokens.admin, body: { approval_policy: { steps } } });
  expect(settings.status, JSON.stringify(settings.body)).toBe(200);
  const created = await callJson("/v1/campaigns", {
    token: tokens.cora,
    body: s.body({
      name: "VIP thanks",
      reward: { product_id: s.productId, channel: "email", amount: 5000 },
      approval: { at_or_above: 1000 },
      owner_email: "dana@example.com",
    }),
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body.id as string;
  expect((await callJson(`/v1/campaigns/${id}/activate`, { method: "POST", token: tokens.finance })).status).toBe(200);
  const day = new Date().toISOString().slice(0, 10);
  return { ...s, org, tokens, emails, id, day };
}

async function pendingEvent(integrator: string) {
  const res = await postEvent(integrator, orderPaid());
  expect(res.body.outcomes[0].outcome).toBe("pending_approval");
  return res.body.id as string;
}

const paths = async (to: string) => (await linksTo(to)).map((l) => new URL(l).pathname);

/** The hidden fingerprint of the list a page showed. */
const fingerprintOf = (html: string) => /name="fingerprint" value="([^"]*)"/.exec(html)?.[1];

/** Posts a campaign page's form, with the fingerprint the page showed (opened now unless given). */
async function decide(path: string, decision: string, fingerprint?: string) {
  const fp = fingerprint ?? fingerprintOf((await page(path)).html) ?? "";
  const res = await call(path, {
    method: "POST",
    rawBody: new URLSearchParams({ decision, comment: "", fingerprint: fp }).toString(),
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  return { status: res.status, html: await res.text() };
}

async function deliveriesOf(campaignId: string) {
  const { results } = await env.DB.prepare("SELECT id, status FROM deliveries WHERE campaign_id = ?").bind(campaignId).all<{ id: string; status: string }>();
  return results;
}

async function waitDelivered(campaignId: string, n: number, timeoutMs = 20_000) {
  const until = Date.now() + timeoutMs;
  let rows = await deliveriesOf(campaignId);
  while ((rows.length < n || rows.some((r) => r.status !== "delivered")) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    rows = await deliveriesOf(campaignId);
  }
  return rows;
}

describe("campaign approval links", () => {
  it("emails one link per approver for the day, lists every pending reward, approves once through the link and delivers", async () => {
    const s = await approvalCampaign();
    const e1 = await pendingEvent(s.tokens.integrator);
    const e2 = await pendingEvent(s.tokens.integrator);
    const fran = await paths(s.emails.fran);
    expect(fran).toHaveLength(1);
    expect(await paths(s.emails.fay)).toHaveLength(1);
    // Four-eyes: the campaign's creator is an enrolled finance approver, and gets no link.
    expect(await paths(s.emails.cora)).toEqual([]);
    // The owner's step does not apply (the policy has only finance).
    expect(await paths(s.emails.olga)).toEqual([]);
    const mail = await callJson(`/dev/outbox?to=${encodeURIComponent(s.emails.fran)}`);
    expect(mail.body.data[0].subject).toContain("Rewards to approve: VIP thanks");

    const first = await page(fran[0]!);
    expect(first.status).toBe(200);
    expect(first.res.headers.get("referrer-policy")).toBe("no-referrer");
    for (const text of ["VIP thanks", s.id, s.day, "dana@example.com", "USD 100.00", e1, e2, "USD 50.00", "Step 1 of 1", 'value="approve"', 'value="reject"']) {
      expect(first.html).toContain(text);
    }
    const shown = fingerprintOf(first.html);
    expect(shown).toMatch(/^2:10000:/);

    // A third reward the same day: no new email, the same link shows it.
    const e3 = await pendingEvent(s.tokens.integrator);
    expect(await paths(s.emails.fran)).toHaveLength(1);
    const again = await page(fran[0]!);
    expect(again.html).toContain(e3);
    expect(again.html).toContain("USD 150.00");
    // The form of the page opened before the third reward would approve a list fran never saw: refused, nothing spent.
    const stale = await decide(fran[0]!, "approve", shown);
    expect(stale.status).toBe(409);
    expect(stale.html).toContain("The rewards have changed");
    expect(await deliveriesOf(s.id)).toEqual([]);

    // GETs change nothing; the first opening is audited once.
    const opened = await env.DB.prepare("SELECT count(*) AS n FROM audit_events WHERE org = ? AND action = 'campaign.approval_link_opened'")
      .bind(s.org)
      .first<{ n: number }>();
    expect(opened?.n).toBe(1);

    const approved = await decide(fran[0]!, "approve");
    expect(approved.status, approved.html).toBe(200);
    expect(approved.html).toContain("Rewards approved");
    const delivered = await waitDelivered(s.id, 3);
    expect(delivered.map((d) => d.status)).toEqual(["delivered", "delivered", "delivered"]);

    const reused = await decide(fran[0]!, "approve");
    expect(reused.status).toBe(409);
    expect(reused.html).toContain("already been used");
    // fay's link is no longer needed.
    const fay = await decide((await paths(s.emails.fay))[0]!, "reject");
    expect(fay.status).toBe(409);
    expect(fay.html).toContain("no longer needed");
    const view = await callJson(`/v1/campaigns/${s.id}/approvals`, { token: s.tokens.support });
    expect(view.body.data[0]).toMatchObject({ day: s.day, status: "approved", decided_by: "fran", round: 1 });
    expect(view.body.data[0].decisions).toMatchObject([{ approver_sub: "fran", decision: "approve", via: "link", role: "finance" }]);
    expect((await s.stub.checkIntegrity()).problems).toEqual([]);
  }, 60_000);

  it("turns four concurrent POSTs of one link into exactly one decision (quorum 2: nothing delivered yet)", async () => {
    const s = await approvalCampaign([{ role: "finance", quorum: 2 }]);
    await pendingEvent(s.tokens.integrator);
    const fran = (await paths(s.emails.fran))[0]!;
    const fp = fingerprintOf((await page(fran)).html);
    const results = await Promise.all(Array.from({ length: 4 }, () => decide(fran, "approve", fp)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409, 409]);
    expect(results.find((r) => r.status === 200)!.html).toContain("1 of 2 approvals");
    const view = await callJson(`/v1/campaigns/${s.id}/approvals`, { token: s.tokens.support });
    expect(view.body.data[0]).toMatchObject({ status: "open", round: 1 });
    expect(view.body.data[0].decisions).toHaveLength(1);
    expect(await deliveriesOf(s.id)).toEqual([]);
    // The second finance approver completes the quorum by API.
    const second = await callJson(`/v1/campaigns/${s.id}/approvals/${s.day}`, { token: s.tokens.fay, body: { decision: "approve" } });
    expect(second.body).toMatchObject({ outcome: "approved", rewards: 1, total: 5000 });
    expect((await waitDelivered(s.id, 1)).map((d) => d.status)).toEqual(["delivered"]);
  }, 60_000);

  it("rejects through the link: the value goes back to the campaign's hold", async () => {
    const s = await approvalCampaign();
    const e1 = await pendingEvent(s.tokens.integrator);
    const rejected = await decide((await paths(s.emails.fran))[0]!, "reject");
    expect(rejected.status, rejected.html).toBe(200);
    expect(rejected.html).toContain("Rewards rejected");
    const view = await callJson(`/v1/campaigns/${s.id}`, { token: s.tokens.support });
    expect(view.body.budget).toMatchObject({ committed: 0, reserved: 100_000 });
    expect(view.body.counts).toMatchObject({ pending_approval: 0, rejected: 1, rewarded: 0 });
    const record = await callJson(`/v1/events/${e1}`, { token: s.tokens.support });
    expect(record.body.outcomes[0]).toMatchObject({ outcome: "skipped", reason: "approval_rejected" });
    expect(await deliveriesOf(s.id)).toEqual([]);
    expect((await s.stub.checkIntegrity()).problems).toEqual([]);
  });

  it("refuses the campaign's creator (four-eyes) by API, and a link made for her is not a link", async () => {
    const s = await approvalCampaign();
    await pendingEvent(s.tokens.integrator);
    const byApi = await callJson(`/v1/campaigns/${s.id}/approvals/${s.day}`, { token: s.tokens.cora, body: { decision: "approve" } });
    expect(byApi.status).toBe(403);
    expect(byApi.body.code).toBe("self_approval_forbidden");
    // A genuinely signed token that was never issued (no stored link) decides nothing.
    const forged = await signApprovalToken(
      env as never,
      { sub: "cora", org: s.org, cmp: s.id, day: s.day, rnd: 1, stp: 0, fp: "1:5000:x", jti: "cal_forged" },
      Date.now() + 3_600_000,
    );
    const res = await decide(`/approve/${forged}`, "approve", "x");
    expect(res.status).toBe(404);
    expect(await deliveriesOf(s.id)).toEqual([]);
  });

  it("stops a suspended approver's link (page and POST); an expired link answers 410 and can be renewed by email", async () => {
    const s = await approvalCampaign();
    await pendingEvent(s.tokens.integrator);
    const fran = (await paths(s.emails.fran))[0]!;
    const fp = fingerprintOf((await page(fran)).html);
    expect((await callJson("/v1/approvers/fran/suspend", { method: "POST", token: s.tokens.admin })).status).toBe(200);
    const refused = await page(fran);
    expect(refused.status).toBe(403);
    expect(refused.html).toContain("suspended");
    expect((await decide(fran, "approve", fp)).status).toBe(403);
    expect(await deliveriesOf(s.id)).toEqual([]);

    const fay = (await paths(s.emails.fay))[0]!;
    await env.DB.prepare("UPDATE campaign_approval_links SET expires_at = '2020-01-01T00:00:00.000Z' WHERE approver_sub = 'fay' AND campaign_id = ?")
      .bind(s.id)
      .run();
    const expired = await decide(fay, "approve", fp);
    expect(expired.status).toBe(410);
    expect(expired.html).toContain("expired");
    expect(await deliveriesOf(s.id)).toEqual([]);

    // The expired page offers a new link by email (never on the page); the old one then says a newer one was sent.
    expect((await page(fay)).html).toContain("Email me a new link");
    const renewed = await call(`${fay}/renew`, { method: "POST", rawBody: "", headers: { "content-type": "application/x-www-form-urlencoded" } });
    const renewedHtml = await renewed.text();
    expect(renewed.status, renewedHtml).toBe(200);
    expect(renewedHtml).toContain("A new link is on its way");
    expect(renewedHtml).not.toContain("/approve/");
    const fayLinks = await paths(s.emails.fay);
    expect(fayLinks).toHaveLength(2);
    const old = await page(fay);
    expect(old.status).toBe(409);
    expect(old.html).toContain("A new link was emailed to you");
    const approved = await decide(fayLinks[0]!, "approve");
    expect(approved.status, approved.html).toBe(200);
    expect((await waitDelivered(s.id, 1)).map((d) => d.status)).toEqual(["delivered"]);
  }, 60_000);

  it("follows the policy's steps: the owner step from its min_total needs a second person before anything is delivered", async () => {
    const s = await approvalCampaign([
      { role: "finance", quorum: 1 },
      { role: "owner", quorum: 1, min_total: 5000 },
    ]);
    await pendingEvent(s.tokens.integrator);
    expect(await paths(s.emails.olga)).toEqual([]);
    const fran = (await paths(s.emails.fran))[0]!;
    expect((await page(fran)).html).toContain("Step 1 of 2");
    // The owner cannot take the finance step by API.
    const early = await callJson(`/v1/campaigns/${s.id}/approvals/${s.day}`, { token: s.tokens.olga, body: { decision: "approve" } });
    expect(early.status).toBe(403);

    const step1 = await decide(fran, "approve");
    expect(step1.status, step1.html).toBe(200);
    expect(step1.html).toContain("completed step 1 of 2");
    expect(await deliveriesOf(s.id)).toEqual([]);
    // fay's finance link is no longer needed; finance cannot take the owner step by API.
    expect((await decide((await paths(s.emails.fay))[0]!, "approve")).status).toBe(409);
    const byFinance = await callJson(`/v1/campaigns/${s.id}/approvals/${s.day}`, { token: s.tokens.fay, body: { decision: "approve" } });
    expect(byFinance.status).toBe(403);
    expect(byFinance.body.detail).toContain("owner");

    // A reward arriving after fran approved starts the approvals again: she approved a shorter list.
    await pendingEvent(s.tokens.integrator);
    const olgaFirst = (await paths(s.emails.olga))[0]!;
    expect((await page(olgaFirst)).status).toBe(409);
    const franAgain = await paths(s.emails.fran);
    expect(franAgain).toHaveLength(2);
    const byApi = await callJson(`/v1/campaigns/${s.id}/approvals/${s.day}`, { token: s.tokens.fay, body: { decision: "approve" } });
    expect(byApi.status, JSON.stringify(byApi.body)).toBe(200);
    expect(byApi.body).toMatchObject({ outcome: "step_completed", rewards: 0, step: { number: 1, of: 2, role: "finance" } });
    expect(await deliveriesOf(s.id)).toEqual([]);

    const olga = await paths(s.emails.olga);
    expect(olga).toHaveLength(2);
    const ownerPage = await page(olga[0]!);
    expect(ownerPage.html).toContain("Step 2 of 2");
    expect(ownerPage.html).toContain("USD 100.00");
    const done = await decide(olga[0]!, "approve");
    expect(done.status, done.html).toBe(200);
    expect(done.html).toContain("Rewards approved");
    const delivered = await waitDelivered(s.id, 2);
    expect(delivered.map((d) => d.status)).toEqual(["delivered", "delivered"]);
    const view = await callJson(`/v1/campaigns/${s.id}/approvals`, { token: s.tokens.support });
    expect(view.body.data[0]).toMatchObject({ status: "approved", round: 2, decided_by: "olga" });
    expect(view.body.data[0].decisions.map((d: any) => [d.approver_sub, d.role, d.via])).toEqual([
      ["fay", "finance", "api"],
      ["olga", "owner", "link"],
    ]);
  }, 60_000);

  it("reads no table whole: the day's opening, page, decisions by link and API, rounds and renewal go through indexes", async () => {
    const { seen, stop } = recordPrepared();
    let s: Awaited<ReturnType<typeof approvalCampaign>>;
    try {
      s = await approvalCampaign([
        { role: "finance", quorum: 1 },
        { role: "owner", quorum: 1, min_total: 5000 },
      ]);
      await pendingEvent(s.tokens.integrator);
      const fran = (await paths(s.emails.fran))[0]!;
      expect((await decide(fran, "approve")).status).toBe(200);
      await pendingEvent(s.tokens.integrator); // a new round
      const fay = (await paths(s.emails.fay))[0]!;
      await env.DB.prepare("UPDATE campaign_approval_links SET expires_at = '2020-01-01T00:00:00.000Z' WHERE approver_sub = 'fay' AND campaign_id = ?")
        .bind(s.id)
        .run();
      expect((await call(`${fay}/renew`, { method: "POST", rawBody: "", headers: { "content-type": "application/x-www-form-urlencoded" } })).status).toBe(200);
      expect((await callJson(`/v1/campaigns/${s.id}/approvals/${s.day}`, { token: s.tokens.fay, body: { decision: "approve" } })).status).toBe(200);
      expect((await decide((await paths(s.emails.olga))[0]!, "reject")).status).toBe(200);
      expect((await callJson(`/v1/campaigns/${s.id}/approvals`, { token: s.tokens.support })).status).toBe(200);
    } finally {
      stop();
    }
    const tables = await tableNames();
    const scans: string[] = [];
    for (const sql of seen) {
      if (!/campaign_approval|campaign_outcomes/.test(sql) || !/^\s*(SELECT|WITH|UPDATE|DELETE|INSERT)/i.test(sql)) continue;
      for (const line of await tableScans(sql, tables)) scans.push(`${line}: ${sql.replace(/\s+/g, " ").slice(0, 200)}`);
    }
    expect([...seen].filter((q) => q.includes("campaign_approval_links")).length).toBeGreaterThan(5);
    expect(scans).toEqual([]);
  }, 60_000);
});
