import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { submitBatch } from "../src/approvals/submit";
import { signApprovalToken, APPROVAL_AUDIENCE } from "../src/approvals/tokens";
import { call, callJson, token } from "./helpers/api";
import { approvalOrg, linkPathTo, page, poolBalance, postDecision, submit, validatedBatch } from "./helpers/approval-factories";

async function submittedWithLinks(opts: Parameters<typeof approvalOrg>[0] = {}) {
  const o = await approvalOrg(opts);
  const b = await validatedBatch(o.org, { amounts: [2500, 7500] });
  await submit(b.batchId, b.operator);
  return { ...o, ...b, fran: await linkPathTo(o.emails.fran), fay: await linkPathTo(o.emails.fay) };
}
const approvalsOf = async (batchId: string, t: string) => (await callJson(`/v1/batches/${batchId}/approvals`, { token: t })).body;
const countEvents = async (org: string, action: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM audit_events WHERE org = ? AND action = ?").bind(org, action).first<{ n: number }>())!.n;

describe("the approval page", () => {
  it("shows what is approved, sends no referrer, and 1,000 GET/HEAD requests change nothing", async () => {
    const s = await submittedWithLinks();
    const first = await page(s.fran);
    expect(first.status).toBe(200);
    expect(first.res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(first.res.headers.get("content-type")).toContain("text/html");
    expect(first.res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    for (const text of [
      "Holiday thanks",
      "holiday-2026",
      "Dana Owner",
      "CC-1001",
      "USD 100.00",
      "otto (otto@",
      "Step 1 of 1",
      "finance",
      "2 valid recipients; 10 expected",
      "Inventory codes available now cover 0 of 2 recipients (short: 1 × USD 25.00, 1 × USD 75.00)",
      'value="approve"',
      'value="reject"',
    ]) {
      expect(first.html).toContain(text);
    }
    const balance = await poolBalance(s.poolId, s.tokens.finance);
    const before = await approvalsOf(s.batchId, s.tokens.auditor);
    for (let i = 0; i < 20; i++) {
      const pages = await Promise.all(Array.from({ length: 50 }, (_, k) => call(s.fran, { method: k % 2 ? "HEAD" : "GET" })));
      expect(pages.every((p) => p.status === 200)).toBe(true);
    }
    const after = await approvalsOf(s.batchId, s.tokens.auditor);
    expect(after.status).toBe("submitted");
    const shape = (v: any) => v.steps.map((st: any) => [st.status, st.approvals, st.decisions, st.requests.map((r: any) => [r.id, r.status, r.used_at])]);
    expect(shape(after)).toEqual(shape(before));
    expect(after.steps[0].requests.find((r: any) => r.approver_sub === "fran").opened_at).toEqual(expect.any(String));
    expect(after.steps[0].decisions).toEqual([]);
    expect(after.steps[0].requests.every((r: any) => r.status === "pending")).toBe(true);
    expect(await poolBalance(s.poolId, s.tokens.finance)).toEqual(balance);
    expect(await countEvents(s.org, "approval.link_opened")).toBe(1);
    expect((await postDecision(s.fran, "approve")).status).toBe(200);
  }, 120_000);

  it("decides once: the second POST says the link was used", async () => {
    const s = await submittedWithLinks({ steps: [{ role: "finance", quorum: 2 }] });
    const first = await postDecision(s.fran, "approve", "fine by me");
    expect(first.status).toBe(200);
    expect(first.html).toContain("Approval recorded");
    const second = await postDecision(s.fran, "approve");
    expect(second.status).toBe(409);
    expect(second.html).toContain("already been used");
    expect((await page(s.fran)).html).toContain("already approved this batch with this link");
    const view = await approvalsOf(s.batchId, s.tokens.auditor);
    expect(view.steps[0].decisions).toMatchObject([{ approver_sub: "fran", via: "link", comment: "fine by me" }]);
  });

  it("turns two concurrent POSTs of one link into exactly one decision", async () => {
    const s = await submittedWithLinks({ steps: [{ role: "finance", quorum: 2 }] });
    const results = await Promise.all(Array.from({ length: 4 }, () => postDecision(s.fran, "approve")));
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409, 409]);
    expect((await approvalsOf(s.batchId, s.tokens.auditor)).steps[0].approvals).toBe(1);
  });

  it("approves through the link and says plainly that the other approver's link is no longer needed", async () => {
    const s = await submittedWithLinks();
    const res = await postDecision(s.fran, "approve");
    expect(res.html).toContain("Batch approved");
    const other = await page(s.fay);
    expect(other.status).toBe(409);
    expect(other.html).toContain("no longer needed");
    expect(other.html).toContain("already been approved");
  });

  it("shows a rejected batch's remaining links as no longer needed, and rejecting by link releases the hold", async () => {
    const s = await submittedWithLinks();
    const available = (await poolBalance(s.poolId, s.tokens.finance)).available;
    expect((await postDecision(s.fay, "reject", "duplicate of last week")).html).toContain("Batch rejected");
    expect((await poolBalance(s.poolId, s.tokens.finance)).available).toBe(available + s.total);
    expect((await page(s.fran)).html).toContain("The batch was rejected");
  });

  it("refuses an expired link with a clear page", async () => {
    const o = await approvalOrg();
    const b = await validatedBatch(o.org);
    await submitBatch({ ...env, APPROVAL_LINK_TTL_HOURS: String(1 / 3600) }, { org: o.org, sub: "otto", roles: ["operator"] }, b.batchId, "http://localhost");
    const path = await linkPathTo(o.emails.fran);
    await new Promise((r) => setTimeout(r, 1200));
    for (const res of [await page(path), await postDecision(path, "approve")]) {
      expect(res.status).toBe(410);
      expect(res.html).toContain("This link has expired");
    }
    expect((await approvalsOf(b.batchId, o.tokens.auditor)).steps[0].decisions).toEqual([]);
  });

  it("refuses a link once the batch changed after it was sent", async () => {
    const s = await submittedWithLinks();
    await env.DB.prepare("UPDATE batch_recipients SET amount = amount + 100000 WHERE batch_id = ? AND row_no = 1").bind(s.batchId).run();
    const post = await postDecision(s.fran, "approve");
    expect(post.status).toBe(409);
    expect(post.html).toContain("The batch has changed");
    await env.DB.prepare("UPDATE batches SET name = 'Something else' WHERE id = ?").bind(s.batchId).run();
    const view = await page(s.fay);
    expect(view.status).toBe(409);
    expect(view.html).toContain("changed after this link was sent");
    expect((await approvalsOf(s.batchId, s.tokens.auditor)).status).toBe("submitted");
  });

  it("refuses a link naming another org, an API token at /approve/, and a form without a decision", async () => {
    const s = await submittedWithLinks();
    const request = (await approvalsOf(s.batchId, s.tokens.auditor)).steps[0].requests.find((r: any) => r.approver_sub === "fran");
    const content = (await approvalsOf(s.batchId, s.tokens.auditor)).submission.content_hash;
    const foreign = await signApprovalToken(
      env,
      { sub: "fran", org: "another-org", bat: s.batchId, stp: 0, bh: content, jti: request.id },
      Date.now() + 60_000,
    );
    for (const path of [`/approve/${foreign}`, `/approve/${await token({ org: s.org, sub: "fran", roles: ["finance"] })}`]) {
      expect((await page(path)).status).toBe(404);
      const post = await postDecision(path, "approve");
      expect(post.status).toBe(404);
      expect(post.html).toContain("This link is not valid");
    }
    const empty = await postDecision(s.fran, "maybe");
    expect(empty.status).toBe(400);
    expect((await approvalsOf(s.batchId, s.tokens.auditor)).steps[0].decisions).toEqual([]);
  });

  it("refuses an approver whom an admin removed after the email", async () => {
    const s = await submittedWithLinks();
    expect((await call("/v1/approvers/fran", { method: "DELETE", token: s.tokens.admin })).status).toBe(204);
    const res = await postDecision(s.fran, "approve");
    expect(res.status).toBe(403);
    expect(res.html).toContain("not an approver");
    expect(res.html).toContain("not an enrolled approver");
  });

  it("stops a suspended approver's pending link at once (page and POST), and it works again once reinstated", async () => {
    const s = await submittedWithLinks();
    const suspended = await callJson("/v1/approvers/fran/suspend", { method: "POST", token: s.tokens.admin });
    expect(suspended.status).toBe(200);
    expect(suspended.body).toMatchObject({ sub: "fran", status: "suspended", email: s.emails.fran, roles: ["finance"] });
    expect((await page(s.fran)).status).toBe(403);
    const refused = await postDecision(s.fran, "approve");
    expect(refused.status).toBe(403);
    expect(refused.html).toContain("suspended");
    expect((await approvalsOf(s.batchId, s.tokens.auditor)).steps[0].decisions).toEqual([]);
    const back = await callJson("/v1/approvers/fran/reinstate", { method: "POST", token: s.tokens.admin });
    expect(back.body).toMatchObject({ status: "active", email: s.emails.fran, roles: ["finance"] });
    const approved = await postDecision(s.fran, "approve");
    expect(approved.status).toBe(200);
  });

  it("records in the decision which enrolment the link relied on", async () => {
    const s = await submittedWithLinks();
    const [fran] = (await callJson("/v1/approvers", { token: s.tokens.auditor })).body.data.filter((a: any) => a.sub === "fran");
    const request = (await approvalsOf(s.batchId, s.tokens.auditor)).steps[0].requests.find((r: any) => r.approver_sub === "fran");
    expect(request.enrolment_id).toBe(fran.enrolment_id);
    expect((await postDecision(s.fran, "approve")).status).toBe(200);
    const event = await env.DB.prepare("SELECT after FROM audit_events WHERE org = ? AND action = 'approval.decided'").bind(s.org).first<{ after: string }>();
    expect(JSON.parse(event!.after)).toMatchObject({ via: "link", enrolment_id: fran.enrolment_id });
  });
});

describe("approval tokens and API tokens never pass for each other", () => {
  it("refuses an approval link's token as an API bearer token with 401", async () => {
    const s = await submittedWithLinks();
    const linkToken = s.fran.split("/").pop()!;
    const res = await callJson(`/v1/batches/${s.batchId}/approvals`, { token: linkToken, body: { decision: "approve" } });
    expect(res.status).toBe(401);
    expect((await callJson("/v1/me", { token: linkToken })).status).toBe(401);
  });

  it("refuses a token with the approval audience even when signed with the API key (the API checks aud)", async () => {
    const forged = await token({ org: "acme", sub: "fran", roles: ["finance"], audience: APPROVAL_AUDIENCE });
    const res = await callJson("/v1/me", { token: forged });
    expect(res.status).toBe(401);
    expect(res.body.detail).toContain("aud");
  });
});
