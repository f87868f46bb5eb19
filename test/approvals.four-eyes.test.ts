/**
 * Four-eyes covers everyone who shaped a batch: its creator, everyone who uploaded recipients to it,
 * and whoever submitted it never decide on it (by API or by link) and are never emailed a link for it.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { issueRequests } from "../src/approvals/requests";
import { findFlow } from "../src/approvals/store";
import { requireBatch } from "../src/batches/batches.service";
import { callJson, token } from "./helpers/api";
import { approvalOrg, linkPathTo, linksTo, postDecision, submit } from "./helpers/approval-factories";
import { enrolAndConfirm } from "./helpers/approver-factories";
import { seedBatch, uploadCsv } from "./helpers/batch-factories";

const approve = (batchId: string, t: string) => callJson(`/v1/batches/${batchId}/approvals`, { token: t, body: { decision: "approve", comment: "ok" } });
const approvalsOf = async (batchId: string, t: string) => (await callJson(`/v1/batches/${batchId}/approvals`, { token: t })).body;

/**
 * A batch created by otto, with recipients uploaded by `uploader` and submitted by `submitter`; uma
 * and sam hold admin, operator and finance and are enrolled, confirmed finance approvers.
 */
async function shapedBatch(who: { uploader: "uma" | "otto"; submitter: "sam" | "otto" }) {
  const o = await approvalOrg({ steps: [{ role: "finance", quorum: 1 }] });
  const people = {
    uma: await token({ org: o.org, sub: "uma", roles: ["admin", "operator", "finance"] }),
    sam: await token({ org: o.org, sub: "sam", roles: ["admin", "operator", "finance"] }),
    otto: o.tokens.operator,
  };
  const emails = { ...o.emails, uma: `uma@${o.org}.example.com`, sam: `sam@${o.org}.example.com` };
  await enrolAndConfirm(people.uma, emails.uma);
  await enrolAndConfirm(people.sam, emails.sam);
  const { batchId } = await seedBatch(o.org, { fund: 1_000_000 });
  const up = await uploadCsv(batchId, people[who.uploader], "external_id,email,country,amount\nR1,r1@example.com,US,2500\n");
  expect(up.status).toBe(200);
  await submit(batchId, people[who.submitter]);
  return { ...o, batchId, people, emails };
}

/** A link to `sub` for the batch's current step, made directly (as if sent before they shaped it), to prove the link path refuses too. */
async function forgedLink(org: string, batchId: string, sub: string, email: string): Promise<string> {
  const [batch, flow] = [await requireBatch(env.DB, org, batchId), (await findFlow(env.DB, org, batchId))!];
  const { enrolment_id } = (await env.DB.prepare("SELECT enrolment_id FROM approvers WHERE org = ? AND sub = ?")
    .bind(org, sub)
    .first<{ enrolment_id: string }>())!;
  await issueRequests({ env, batch, flow, origin: "http://rewardrail.test" }, [{ sub, email, enrolmentId: enrolment_id }], {
    action: "approval.requested",
    actor: "test",
  });
  return linkPathTo(email);
}

describe("four-eyes: everyone who shaped the batch", () => {
  it("refuses an admin+operator with finance who uploaded recipients, by API and by link, and never emails them a link", async () => {
    const s = await shapedBatch({ uploader: "uma", submitter: "otto" });
    expect(await linksTo(s.emails.uma)).toEqual([]);
    expect(await linksTo(s.emails.fran)).toHaveLength(1);
    const byApi = await approve(s.batchId, s.people.uma);
    expect(byApi.status).toBe(403);
    expect(byApi.body.code).toBe("self_approval_forbidden");
    expect(byApi.body.detail).toContain("uploaded recipients to");
    const byLink = await postDecision(await forgedLink(s.org, s.batchId, "uma", s.emails.uma), "approve");
    expect(byLink.status).toBe(403);
    expect(byLink.html).toContain("You cannot decide on your own batch or campaign");
    expect((await approvalsOf(s.batchId, s.tokens.auditor)).steps[0].decisions).toEqual([]);
  });

  it("refuses an admin+operator with finance who submitted the batch, by API and by link, and never emails them a link", async () => {
    const s = await shapedBatch({ uploader: "otto", submitter: "sam" });
    expect(await linksTo(s.emails.sam)).toEqual([]);
    const byApi = await approve(s.batchId, s.people.sam);
    expect(byApi.status).toBe(403);
    expect(byApi.body.code).toBe("self_approval_forbidden");
    expect(byApi.body.detail).toContain("submitted");
    const byLink = await postDecision(await forgedLink(s.org, s.batchId, "sam", s.emails.sam), "approve");
    expect(byLink.status).toBe(403);
    expect((await approvalsOf(s.batchId, s.tokens.auditor)).steps[0].decisions).toEqual([]);
    // Someone who did not shape it still can.
    expect((await approve(s.batchId, s.tokens.fran)).status).toBe(200);
  });

  it("leaves uploaders and the submitter out of re-sent links too", async () => {
    const s = await shapedBatch({ uploader: "uma", submitter: "sam" });
    for (const sub of ["uma", "sam", "otto"]) {
      const res = await callJson(`/v1/batches/${s.batchId}/approvals/resend`, { token: s.tokens.operator, body: { approver_sub: sub } });
      expect(res.status).toBe(422);
    }
  });
});
