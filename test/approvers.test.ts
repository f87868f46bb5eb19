/** Approvers enrol themselves; admins can only suspend, reinstate or remove them (API.md "Approvers"). */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, callJson, token, uniqueOrg } from "./helpers/api";
import { approvalOrg, linksTo, submit, validatedBatch } from "./helpers/approval-factories";
import { confirmLink, enrol, enrolAndConfirm, verifyLinksTo, verifyPathTo } from "./helpers/approver-factories";
import { orgTokens } from "./helpers/batch-factories";

const approvers = async (org: string) => {
  const res = await callJson("/v1/approvers", { token: await token({ org, sub: "aud", roles: ["auditor"] }) });
  expect(res.status).toBe(200);
  return res.body.data as any[];
};
const events = async (org: string, sub: string) =>
  (await env.DB.prepare("SELECT action, actor, after FROM audit_events WHERE org = ? AND entity_id = ? ORDER BY seq").bind(org, sub).all<any>()).results;
const outbox = async (to: string) => (await callJson(`/dev/outbox?to=${encodeURIComponent(to)}`)).body.data as any[];

describe("admins cannot make, redirect or upgrade an approver", () => {
  it("refuses approvers in PUT /v1/settings (400, pointer /approvers) and GET no longer shows them", async () => {
    const org = uniqueOrg();
    const t = await orgTokens(org);
    for (const approvers of [
      [{ sub: "mallory", email: "mallory@evil.example", roles: ["finance", "owner"] }],
      [{ sub: "fran", email: "ada@example.com", roles: ["finance"] }],
      [],
    ]) {
      const res = await callJson("/v1/settings", { method: "PUT", token: t.admin, body: { prior_payout_window_days: 3, approvers } });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("validation_failed");
      expect(res.body.errors).toEqual([expect.objectContaining({ pointer: "/approvers" })]);
    }
    const settings = await callJson("/v1/settings", { token: t.admin });
    expect(settings.body).not.toHaveProperty("approvers");
    expect(settings.body.version).toBe(0);
    expect(await approvers(org)).toEqual([]);
  });

  it("takes sub and roles from the enrolling token only: extra fields are refused, an admin-only token cannot enrol", async () => {
    const org = uniqueOrg();
    const t = await orgTokens(org);
    const fran = await token({ org, sub: "fran", roles: ["finance"] });
    for (const body of [{ email: "f@example.com", sub: "olga" }, { email: "f@example.com", roles: ["owner"] }, {}, { email: "not-an-email" }]) {
      const res = await callJson("/v1/approvers/enrol", { token: fran, body });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    expect((await callJson("/v1/approvers/enrol", { token: t.admin, body: { email: "ada@example.com" } })).status).toBe(403);
    expect((await callJson("/v1/approvers/enrol", { token: t.support, body: { email: "sue@example.com" } })).status).toBe(403);
    expect(await approvers(org)).toEqual([]);
  });

  it("has no admin route that adds an approver or changes an email or roles", async () => {
    const org = uniqueOrg();
    const t = await orgTokens(org);
    const fran = await token({ org, sub: "fran", roles: ["finance"] });
    await enrolAndConfirm(fran, `fran@${org}.example.com`);
    for (const [method, path] of [
      ["PUT", "/v1/approvers/fran"],
      ["PATCH", "/v1/approvers/fran"],
      ["POST", "/v1/approvers"],
    ]) {
      const res = await callJson(path!, { method, token: t.admin, body: { email: "ada@example.com", roles: ["finance", "owner"] } });
      expect([404, 405]).toContain(res.status);
    }
    expect(await approvers(org)).toMatchObject([{ sub: "fran", email: `fran@${org}.example.com`, roles: ["finance"], status: "active" }]);
  });
});

describe("enrolment", () => {
  it("records only the approval roles the token carries: [finance, admin] enrols as finance", async () => {
    const org = uniqueOrg();
    const mixed = await token({ org, sub: "fin-admin", roles: ["finance", "admin"] });
    const res = await callJson("/v1/approvers/enrol", { token: mixed, body: { email: `fa@${org}.example.com` } });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      sub: "fin-admin",
      roles: ["finance"],
      status: "pending",
      verified_at: null,
      enrolment_id: null,
      verification_email_status: "sent",
    });
    expect(await approvers(org)).toMatchObject([{ sub: "fin-admin", roles: ["finance"], status: "pending" }]);
    const [enrolled] = await events(org, "fin-admin");
    expect(enrolled).toMatchObject({ action: "approver.enrolled", actor: "fin-admin" });
  });

  it("GET /verify shows the enrolment and changes nothing; POST confirms once; a second POST is refused", async () => {
    const org = uniqueOrg();
    const email = `fran@${org}.example.com`;
    await enrol(await token({ org, sub: "fran", roles: ["finance"] }), email);
    const path = await verifyPathTo(email);
    const auditBefore = (await events(org, "fran")).length;
    for (let i = 0; i < 10; i++) {
      const res = await call(path, { method: i % 2 ? "HEAD" : "GET" });
      expect(res.status).toBe(200);
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      if (i === 0) {
        const html = await res.text();
        for (const text of ["fran", email, "finance", org, "Confirm"]) expect(html).toContain(text);
      }
    }
    expect(await approvers(org)).toMatchObject([{ status: "pending", verified_at: null }]);
    expect((await events(org, "fran")).length).toBe(auditBefore);

    const first = await confirmLink(path);
    expect(first.status).toBe(200);
    expect(first.html).toContain("Enrolment confirmed");
    const [fran] = await approvers(org);
    expect(fran).toMatchObject({ status: "active", email, roles: ["finance"], verified_at: expect.any(String), enrolment_id: expect.stringMatching(/^enr_/) });
    const second = await confirmLink(path);
    expect(second.status).toBe(409);
    expect(second.html).toContain("already been used");
    expect((await events(org, "fran")).map((e: any) => e.action)).toContain("approver.confirmed");
  });

  it("refuses an expired verification link, a tampered one and an approval-audience token", async () => {
    const org = uniqueOrg();
    const email = `fran@${org}.example.com`;
    await enrol(await token({ org, sub: "fran", roles: ["finance"] }), email);
    const path = await verifyPathTo(email);
    await env.DB.prepare("UPDATE approver_enrolments SET expires_at = ? WHERE org = ?")
      .bind(new Date(Date.now() - 1000).toISOString(), org)
      .run();
    const expired = await confirmLink(path);
    expect(expired.status).toBe(410);
    expect(expired.html).toContain("expired");
    expect((await call(path)).status).toBe(410);
    expect((await confirmLink(path.slice(0, -3) + (path.endsWith("AAA") ? "BBB" : "AAA"))).status).toBe(404);
    expect((await confirmLink(`/verify/${await token({ org, sub: "fran", roles: ["finance"] })}`)).status).toBe(404);
    expect(await approvers(org)).toMatchObject([{ status: "pending" }]);
  });

  it("emails no approval link to an approver who has not confirmed", async () => {
    const o = await approvalOrg({ steps: [{ role: "finance", quorum: 1 }] });
    const pete = await token({ org: o.org, sub: "pete", roles: ["finance"] });
    const peteEmail = `pete@${o.org}.example.com`;
    await enrol(pete, peteEmail);
    const b = await validatedBatch(o.org);
    await submit(b.batchId, b.operator);
    expect(await linksTo(o.emails.fran)).toHaveLength(1);
    expect(await linksTo(peteEmail)).toEqual([]);
  });

  it("re-enrolling tells the old address; the old email and roles stay in force until the new address confirms", async () => {
    const o = await approvalOrg({ steps: [{ role: "finance", quorum: 1 }] });
    const newEmail = `fran.new@${o.org}.example.com`;
    const res = await callJson("/v1/approvers/enrol", { token: o.tokens.fran, body: { email: newEmail } });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: "active", email: o.emails.fran, pending_enrolment: { email: newEmail, roles: ["finance"] } });
    const [notice] = await outbox(o.emails.fran);
    expect(notice.subject).toContain("being changed");
    expect(notice.text).toContain(newEmail);
    expect(notice.links.filter((l: string) => l.includes("/verify/"))).toEqual([]);

    // Meanwhile the approval email still goes to the confirmed address.
    const b = await validatedBatch(o.org);
    await submit(b.batchId, b.operator);
    expect(await linksTo(o.emails.fran)).toHaveLength(1);
    expect(await linksTo(newEmail)).toEqual([]);

    expect((await confirmLink(await verifyPathTo(newEmail))).status).toBe(200);
    const fran = (await approvers(o.org)).find((a) => a.sub === "fran");
    expect(fran).toMatchObject({ status: "active", email: newEmail, pending_enrolment: null });
    // The link sent under the old enrolment no longer decides; a new one goes to the new address.
    const oldLink = new URL((await linksTo(o.emails.fran))[0]!).pathname;
    const stale = await call(oldLink, { method: "POST", rawBody: "decision=approve", headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect(stale.status).toBe(403);
    expect(await stale.text()).toContain("changed after this link was sent");
  });

  it("a newer enrolment makes the earlier unconfirmed link stop working", async () => {
    const org = uniqueOrg();
    const fran = await token({ org, sub: "fran", roles: ["finance"] });
    await enrol(fran, `a@${org}.example.com`);
    const first = await verifyPathTo(`a@${org}.example.com`);
    await enrol(fran, `b@${org}.example.com`);
    expect(await verifyLinksTo(`a@${org}.example.com`)).toHaveLength(1);
    expect((await confirmLink(first)).status).toBe(409);
    expect(await approvers(org)).toMatchObject([{ status: "pending", email: `b@${org}.example.com` }]);
    expect((await confirmLink(await verifyPathTo(`b@${org}.example.com`))).status).toBe(200);
  });
});

describe("admins suspend, reinstate and remove", () => {
  it("a suspended approver gets no approval links; reinstated, the same email and roles come back; each change audited", async () => {
    const o = await approvalOrg({ steps: [{ role: "finance", quorum: 1 }] });
    for (const t of [o.tokens.fran, o.tokens.operator, o.tokens.auditor])
      expect((await callJson("/v1/approvers/fay/suspend", { method: "POST", token: t })).status).toBe(403);
    const s = await callJson("/v1/approvers/fay/suspend", { method: "POST", token: o.tokens.admin });
    expect(s.body).toMatchObject({ status: "suspended", email: o.emails.fay, roles: ["finance"] });
    const again = await callJson("/v1/approvers/fay/suspend", { method: "POST", token: o.tokens.admin });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("invalid_state_transition");
    const b = await validatedBatch(o.org);
    await submit(b.batchId, b.operator);
    expect(await linksTo(o.emails.fran)).toHaveLength(1);
    expect(await linksTo(o.emails.fay)).toEqual([]);
    const r = await callJson("/v1/approvers/fay/reinstate", { method: "POST", token: o.tokens.admin });
    expect(r.body).toMatchObject({ status: "active", email: o.emails.fay, roles: ["finance"] });
    expect((await callJson("/v1/approvers/fay/reinstate", { method: "POST", token: o.tokens.admin })).status).toBe(409);
    expect((await callJson("/v1/approvers/nobody/suspend", { method: "POST", token: o.tokens.admin })).status).toBe(404);
    expect((await callJson("/v1/approvers/fay/suspend", { method: "POST", token: o.tokens.admin, body: { email: "x@example.com" } })).status).toBe(400);
    const actions = (await events(o.org, "fay")).map((e: any) => e.action);
    expect(actions).toEqual(expect.arrayContaining(["approver.enrolled", "approver.confirmed", "approver.suspended", "approver.reinstated"]));
  });

  it("removes an approver (admin only), who can enrol again themselves", async () => {
    const o = await approvalOrg({ steps: [{ role: "finance", quorum: 1 }] });
    expect((await call("/v1/approvers/fay", { method: "DELETE", token: o.tokens.fran })).status).toBe(403);
    expect((await call("/v1/approvers/fay", { method: "DELETE", token: o.tokens.admin })).status).toBe(204);
    expect((await call("/v1/approvers/fay", { method: "DELETE", token: o.tokens.admin })).status).toBe(404);
    expect((await approvers(o.org)).map((a) => a.sub)).not.toContain("fay");
    expect((await events(o.org, "fay")).map((e: any) => e.action)).toContain("approver.removed");
    await enrolAndConfirm(o.tokens.fay, o.emails.fay);
    expect((await approvers(o.org)).find((a) => a.sub === "fay")).toMatchObject({ status: "active" });
  });

  it("lists approvers to any org role, paged by sub", async () => {
    const o = await approvalOrg();
    const page1 = await callJson("/v1/approvers?limit=2", { token: o.tokens.auditor });
    expect(page1.body.data.map((a: any) => a.sub)).toEqual(["fay", "fran"]);
    const page2 = await callJson(`/v1/approvers?limit=2&cursor=${page1.body.next_cursor}`, { token: o.tokens.support });
    expect(page2.body.data.map((a: any) => a.sub)).toEqual(["olga", "otto"]);
    expect(page2.body.next_cursor).toBeNull();
    expect((await callJson("/v1/approvers?cursor=bogus", { token: o.tokens.auditor })).status).toBe(400);
    expect((await callJson("/v1/approvers", { token: await token({ org: o.org, sub: "x", roles: [] }) })).status).toBe(403);
  });
});
