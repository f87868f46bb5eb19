import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { submitBatch } from "../src/approvals/submit";
import { call, callJson, token } from "./helpers/api";
import { approvalOrg, linksTo, linkPathTo, page, postDecision, submit, validatedBatch } from "./helpers/approval-factories";

const approvalsOf = async (batchId: string, t: string) => (await callJson(`/v1/batches/${batchId}/approvals`, { token: t })).body;
const requestsOf = async (batchId: string, t: string, sub: string) =>
  (await approvalsOf(batchId, t)).steps[0].requests.filter((r: any) => r.approver_sub === sub) as { id: string; status: string; email_status: string }[];
const eventsOf = async (org: string, action: string) =>
  (
    await env.DB.prepare("SELECT actor, after FROM audit_events WHERE org = ? AND action = ? ORDER BY seq")
      .bind(org, action)
      .all<{ actor: string; after: string }>()
  ).results.map((e) => ({ actor: e.actor, after: JSON.parse(e.after) }));
const renew = (linkPath: string) => call(`${linkPath}/renew`, { method: "POST" }).then(async (res) => ({ status: res.status, html: await res.text() }));
const resend = (batchId: string, t: string, body?: unknown) => callJson(`/v1/batches/${batchId}/approvals/resend`, { method: "POST", token: t, body });

/** A submitted batch whose emailed links expired a second after they were sent. */
async function expiredLinks(opts: Parameters<typeof approvalOrg>[0] = {}) {
  const o = await approvalOrg(opts);
  const b = await validatedBatch(o.org);
  await submitBatch({ ...env, APPROVAL_LINK_TTL_HOURS: String(1 / 3600) }, { org: o.org, sub: "otto", roles: ["operator"] }, b.batchId, "http://localhost");
  const fran = await linkPathTo(o.emails.fran);
  const fay = await linkPathTo(o.emails.fay);
  await new Promise((r) => setTimeout(r, 1200));
  return { ...b, ...o, fran, fay };
}

/** Backdates an approver's links, as if they were emailed `minutes` ago. */
async function sentMinutesAgo(batchId: string, sub: string, minutes: number) {
  const at = new Date(Date.now() - minutes * 60_000).toISOString();
  await env.DB.prepare("UPDATE approval_requests SET created_at = ? WHERE batch_id = ? AND approver_sub = ?").bind(at, batchId, sub).run();
}

describe("an expired approval link", () => {
  it("offers a new link by email; the new one decides, the old one says it was replaced", async () => {
    const s = await expiredLinks();
    const expired = await page(s.fran);
    expect(expired.status).toBe(410);
    expect(expired.html).toContain("This link has expired");
    expect(expired.html).toContain(`action="${s.fran}/renew"`);
    expect(expired.html).toContain("Email me a new link");
    expect(await linksTo(s.emails.fran)).toHaveLength(1);

    const renewed = await renew(s.fran);
    expect(renewed.status).toBe(200);
    expect(renewed.html).toContain("A new link is on its way");
    expect(renewed.html).toContain(`f•••@${s.org}.example.com`);
    const links = await linksTo(s.emails.fran);
    expect(links).toHaveLength(2);
    const fresh = new URL(links[0]!).pathname;
    expect(fresh).not.toBe(s.fran);
    expect(renewed.html).not.toContain(fresh.split("/").pop()); // the page never shows the new link

    const old = await page(s.fran);
    expect(old.status).toBe(409);
    expect(old.html).toContain("A new link was emailed to you");
    expect(old.html).not.toContain("Email me a new link");
    expect((await renew(s.fran)).status).toBe(409); // one renewal per link
    expect(await linksTo(s.emails.fran)).toHaveLength(2);
    expect((await requestsOf(s.batchId, s.tokens.auditor, "fran")).map((r) => r.status)).toEqual(["superseded", "pending"]);
    expect((await requestsOf(s.batchId, s.tokens.auditor, "fay")).map((r) => r.status)).toEqual(["pending"]);

    expect((await page(fresh)).status).toBe(200);
    expect((await postDecision(fresh, "approve")).html).toContain("Batch approved");
    const [event] = await eventsOf(s.org, "approval.link_renewed");
    expect(event).toMatchObject({ actor: "fran", after: { step: 0, replaces: [expect.stringMatching(/^apr_/)], requests: [{ approver: "fran" }] } });
  });

  it("is renewed once when the button is pressed several times at once", async () => {
    const s = await expiredLinks();
    const results = await Promise.all(Array.from({ length: 4 }, () => renew(s.fran)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409, 409]);
    expect(await linksTo(s.emails.fran)).toHaveLength(2);
    expect((await requestsOf(s.batchId, s.tokens.auditor, "fran")).filter((r) => r.status === "pending")).toHaveLength(1);
  });

  it("says what matters more than expiry, and offers no new link, when the batch no longer needs this approver", async () => {
    const s = await expiredLinks();
    expect((await callJson(`/v1/batches/${s.batchId}/approvals`, { method: "POST", token: s.tokens.fay, body: { decision: "approve" } })).status).toBe(200);
    const res = await page(s.fran);
    expect(res.status).toBe(409);
    expect(res.html).toContain("already been approved");
    expect(res.html).not.toContain("/renew");
    expect((await renew(s.fran)).status).toBe(409);
    expect(await linksTo(s.emails.fran)).toHaveLength(1);
  });

  it("is not renewed for a suspended approver, nor while it still works", async () => {
    const s = await expiredLinks();
    expect((await callJson("/v1/approvers/fran/suspend", { method: "POST", token: s.tokens.admin })).status).toBe(200);
    const removed = await renew(s.fran);
    expect(removed.status).toBe(403);
    expect(removed.html).toContain("no longer an approver");
    expect(await linksTo(s.emails.fran)).toHaveLength(1);

    const o = await approvalOrg();
    const b = await validatedBatch(o.org);
    await submit(b.batchId, b.operator);
    const live = await linkPathTo(o.emails.fran);
    const early = await renew(live);
    expect(early.status).toBe(409);
    expect(early.html).toContain("This link still works");
    expect((await page(live)).status).toBe(200);
  });

  it("is refused as a renewal when it is not a genuine link", async () => {
    const s = await expiredLinks();
    const tampered = s.fran.slice(0, -3) + (s.fran.endsWith("AAA") ? "BBB" : "AAA");
    expect((await renew(tampered)).status).toBe(404);
    expect((await renew(`/approve/${await token({ org: s.org, sub: "fran", roles: ["finance"] })}`)).status).toBe(404);
    expect(await linksTo(s.emails.fran)).toHaveLength(1);
  });
});

describe("POST /v1/batches/{id}/approvals/resend", () => {
  it("re-sends to approvers whose link is older than 10 minutes, skips the others, and supersedes the old link", async () => {
    const o = await approvalOrg();
    const b = await validatedBatch(o.org);
    await submit(b.batchId, b.operator);
    const oldFran = await linkPathTo(o.emails.fran);

    const tooSoon = await resend(b.batchId, b.operator);
    expect(tooSoon.status).toBe(429);
    expect(tooSoon.body.code).toBe("rate_limited");
    const wait = Number(tooSoon.res.headers.get("retry-after"));
    expect(wait).toBeGreaterThan(500);
    expect(wait).toBeLessThanOrEqual(600);
    expect(tooSoon.body.retry_after_seconds).toBe(wait);

    await sentMinutesAgo(b.batchId, "fran", 11);
    const res = await resend(b.batchId, b.operator);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.resent).toEqual([expect.objectContaining({ approver_sub: "fran", approver_email: o.emails.fran, email_status: "sent" })]);
    expect(res.body.skipped).toEqual([{ approver_sub: "fay", reason: "recently_sent", retry_after_seconds: expect.any(Number) }]);
    expect(res.body.steps[0].requests.filter((r: any) => r.approver_sub === "fran").map((r: any) => r.status)).toEqual(["superseded", "pending"]);
    expect(res.body.trail.map((e: any) => e.action)).toContain("approval.links_resent");

    const fresh = await linkPathTo(o.emails.fran);
    expect(fresh).not.toBe(oldFran);
    const old = await postDecision(oldFran, "approve");
    expect(old.status).toBe(409);
    expect(old.html).toContain("A new link was emailed to you");
    expect((await postDecision(fresh, "approve")).html).toContain("Batch approved");
    const [event] = await eventsOf(o.org, "approval.links_resent");
    expect(event).toMatchObject({ actor: "otto", after: { step: 0, replaces: [res.body.steps[0].requests[0].id] } });
  });

  it("re-sends at once after a failed email, and to one named approver", async () => {
    const o = await approvalOrg();
    const b = await validatedBatch(o.org);
    await submit(b.batchId, b.operator);
    await env.DB.prepare("UPDATE approval_requests SET email_status = 'failed', email_error = 'provider down' WHERE batch_id = ?").bind(b.batchId).run();
    const res = await resend(b.batchId, o.tokens.admin, { approver_sub: "fay" });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.resent.map((r: any) => r.approver_sub)).toEqual(["fay"]);
    expect(res.body.skipped).toEqual([]);
    expect(await linksTo(o.emails.fay)).toHaveLength(2);
    expect(await linksTo(o.emails.fran)).toHaveLength(1);
  });

  it("refuses approvers who cannot take the step, batches not awaiting approval, and roles without the right", async () => {
    const o = await approvalOrg();
    const b = await validatedBatch(o.org);
    const early = await resend(b.batchId, b.operator);
    expect(early.status).toBe(409);
    expect(early.body.code).toBe("invalid_state_transition");
    await submit(b.batchId, b.operator);
    for (const sub of ["olga", "otto", "nobody"]) {
      const res = await resend(b.batchId, b.operator, { approver_sub: sub });
      expect(res.status).toBe(422);
      expect(res.body.errors).toEqual([expect.objectContaining({ pointer: "/approver_sub", code: "not_an_approver" })]);
    }
    expect((await resend(b.batchId, b.operator, { approver_sub: "fran", status: "x" })).status).toBe(400);
    for (const t of [o.tokens.fran, o.tokens.auditor, o.tokens.support]) expect((await resend(b.batchId, t)).status).toBe(403);
    const foreign = await token({ org: "another-org", sub: "otto", roles: ["operator"] });
    expect((await resend(b.batchId, foreign)).status).toBe(404);
    expect(await linksTo(o.emails.fran)).toHaveLength(1);
  });

  it("lets two concurrent re-sends leave exactly one working link per approver", async () => {
    const o = await approvalOrg();
    const b = await validatedBatch(o.org);
    await submit(b.batchId, b.operator);
    await sentMinutesAgo(b.batchId, "fran", 30);
    await sentMinutesAgo(b.batchId, "fay", 30);
    const results = await Promise.all([resend(b.batchId, b.operator), resend(b.batchId, b.operator)]);
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect([409, 429]).toContain(results.find((r) => r.status !== 200)!.status);
    const view = await approvalsOf(b.batchId, o.tokens.auditor);
    for (const sub of ["fran", "fay"]) expect(view.steps[0].requests.filter((r: any) => r.approver_sub === sub && r.status === "pending")).toHaveLength(1);
  });

  it("asks nobody when the flow closed between reading it and storing the links", async () => {
    const o = await approvalOrg();
    const b = await validatedBatch(o.org);
    await submit(b.batchId, b.operator);
    const { findFlow } = await import("../src/approvals/store");
    const { requireBatch } = await import("../src/batches/batches.service");
    const { issueStepRequests } = await import("../src/approvals/requests");
    const [batch, flow] = [await requireBatch(env.DB, o.org, b.batchId), (await findFlow(env.DB, o.org, b.batchId))!];
    expect((await callJson(`/v1/batches/${b.batchId}/cancel`, { method: "POST", token: b.operator })).status).toBe(200);
    await expect(issueStepRequests({ env, batch, flow, origin: "http://localhost" })).resolves.toBeUndefined();
    expect(await linksTo(o.emails.fran)).toHaveLength(1);
    expect((await approvalsOf(b.batchId, o.tokens.auditor)).steps[0].requests).toHaveLength(2);
  });

  it("sends the links a crashed step change never sent", async () => {
    const o = await approvalOrg({
      steps: [
        { role: "finance", quorum: 1 },
        { role: "owner", quorum: 1 },
      ],
    });
    const b = await validatedBatch(o.org);
    await submit(b.batchId, b.operator);
    // The decision commits; its follow-up (emailing step 2) is lost, as in a crash between the two.
    const { recordDecision } = await import("../src/approvals/decide");
    await recordDecision(env, { org: o.org, batchId: b.batchId, decider: { sub: "fran", roles: ["finance"] }, decision: "approve", comment: null });
    expect(await linksTo(o.emails.olga)).toHaveLength(0);
    const res = await resend(b.batchId, b.operator);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.resent.map((r: any) => r.approver_sub)).toEqual(["olga"]);
    expect((await postDecision(await linkPathTo(o.emails.olga), "approve")).html).toContain("Batch approved");
  });
});
