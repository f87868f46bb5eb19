import { describe, expect, it } from "vitest";
import { callJson } from "./helpers/api";
import { seedBatch } from "./helpers/batch-factories";
import { approvalOrg, linksTo, poolBalance, submit, transitions, validatedBatch } from "./helpers/approval-factories";

const approve = (batchId: string, t: string, comment?: string) =>
  callJson(`/v1/batches/${batchId}/approvals`, { token: t, body: { decision: "approve", comment } });
const approvals = async (batchId: string, t: string) => (await callJson(`/v1/batches/${batchId}/approvals`, { token: t })).body;

describe("submit", () => {
  it("reserves the valid total, records the hash and policy, and emails the first step's approvers but never the creator", async () => {
    const { org, tokens, emails } = await approvalOrg();
    const { batchId, poolId, operator, total } = await validatedBatch(org, { amounts: [2500, 4000], fund: 50_000 });
    const before = await poolBalance(poolId, tokens.finance);
    const batch = await submit(batchId, operator);
    expect(batch.status).toBe("submitted");
    const after = await poolBalance(poolId, tokens.finance);
    expect(after.reserved - before.reserved).toBe(total);
    expect(before.available - after.available).toBe(total);

    const view = await approvals(batchId, tokens.auditor);
    expect(view.submission).toMatchObject({
      state: "open",
      current_step: 0,
      submitted_by: "otto",
      hold: { id: `hold_${batchId}`, amount: total },
      auto_release: true,
    });
    expect(view.submission.content_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(view.steps.map((s: any) => [s.role, s.status])).toEqual([["finance", "pending"]]);
    expect(view.steps[0].requests.map((r: any) => r.approver_sub).sort()).toEqual(["fay", "fran"]);
    expect(view.steps[0].requests.every((r: any) => r.email_status === "sent" && r.status === "pending")).toBe(true);
    expect(await linksTo(emails.fran)).toHaveLength(1);
    expect(await linksTo(emails.otto)).toHaveLength(0);
  });

  it("answers 409 insufficient_funds when the pool cannot cover the batch, and leaves batch and pool unchanged", async () => {
    const { org, tokens } = await approvalOrg();
    const { batchId, poolId, operator } = await validatedBatch(org, { amounts: [30_000, 30_000], fund: 50_000 });
    const before = await poolBalance(poolId, tokens.finance);
    const res = await callJson(`/v1/batches/${batchId}/submit`, { token: operator, method: "POST" });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("insufficient_funds");
    expect((await callJson(`/v1/batches/${batchId}`, { token: operator })).body.status).toBe("validated");
    expect(await poolBalance(poolId, tokens.finance)).toEqual(before);
    expect((await approvals(batchId, operator)).submission).toBeNull();
  });

  it("submits a batch once its pool is funded, after any number of refusals for insufficient funds", async () => {
    const { org, tokens } = await approvalOrg();
    const { batchId, poolId, operator, total } = await validatedBatch(org, { amounts: [30_000, 30_000], fund: 50_000 });
    for (let attempt = 0; attempt < 2; attempt++) {
      const refused = await callJson(`/v1/batches/${batchId}/submit`, { token: operator, method: "POST" });
      expect([refused.status, refused.body.code]).toEqual([409, "insufficient_funds"]);
    }
    const funded = await callJson(`/v1/pools/${poolId}/fund`, { token: tokens.finance, body: { amount: 10_000, reference: "top-up" } });
    expect(funded.status).toBe(200);
    expect((await submit(batchId, operator)).status).toBe("submitted");
    expect(await poolBalance(poolId, tokens.finance)).toMatchObject({ available: 0, reserved: total });
  });

  it("refuses a draft batch and a second submit with invalid_state_transition; only operator and integrator submit", async () => {
    const { org, tokens } = await approvalOrg();
    const draft = await seedBatch(org);
    const refused = await callJson(`/v1/batches/${draft.batchId}/submit`, { token: draft.tokens.operator, method: "POST" });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("invalid_state_transition");
    expect(refused.body.detail).toContain("draft");
    const { batchId, operator } = await validatedBatch(org);
    expect((await callJson(`/v1/batches/${batchId}/submit`, { token: tokens.fran, method: "POST" })).status).toBe(403);
    await submit(batchId, operator);
    const again = await callJson(`/v1/batches/${batchId}/submit`, { token: operator, method: "POST" });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("invalid_state_transition");
  });

  it("takes no body: fields are refused, not ignored; {} and nothing both submit", async () => {
    const { org } = await approvalOrg();
    const { batchId, operator } = await validatedBatch(org);
    const withFields = await callJson(`/v1/batches/${batchId}/submit`, { token: operator, body: { status: "approved", skip_approval: true } });
    expect(withFields.status).toBe(400);
    expect(withFields.body.errors.map((e: any) => e.pointer)).toEqual(["/status", "/skip_approval"]);
    const junk = await callJson(`/v1/batches/${batchId}/submit`, {
      token: operator,
      method: "POST",
      rawBody: "status=approved",
      headers: { "content-type": "text/plain" },
    });
    expect(junk.status).toBe(400);
    expect((await callJson(`/v1/batches/${batchId}`, { token: operator })).body.status).toBe("validated");
    const ok = await callJson(`/v1/batches/${batchId}/submit`, { token: operator, body: {} });
    expect(ok.status).toBe(200);
    expect(ok.body.status).toBe("submitted");
  });
});

describe("policy matrix", () => {
  it("asks only finance for a small batch and finance then owner for a large one", async () => {
    const { org, tokens, emails } = await approvalOrg();
    const small = await validatedBatch(org, { amounts: [5_000] });
    await submit(small.batchId, small.operator);
    expect((await approvals(small.batchId, tokens.auditor)).steps.map((s: any) => s.role)).toEqual(["finance"]);
    expect((await approve(small.batchId, tokens.fran)).body.outcome).toBe("approved");

    const large = await validatedBatch(org, { amounts: [40_000, 40_000, 40_000] });
    await submit(large.batchId, large.operator);
    expect((await approvals(large.batchId, tokens.auditor)).steps.map((s: any) => s.role)).toEqual(["finance", "owner"]);
    expect(await linksTo(emails.olga)).toHaveLength(0); // the owner is asked only once finance has approved
    const first = await approve(large.batchId, tokens.fay);
    expect(first.body.outcome).toBe("step_completed");
    expect(first.body.status).toBe("submitted");
    expect(first.body.steps.map((s: any) => s.status)).toEqual(["approved", "pending"]);
    expect(await linksTo(emails.olga)).toHaveLength(1);
    expect((await approve(large.batchId, tokens.fran)).status).toBe(403); // finance is not the owner step's role
    const last = await approve(large.batchId, tokens.olga, "signed off");
    expect(last.body.outcome).toBe("approved");
    expect(await transitions(large.batchId)).toEqual(expect.arrayContaining(["submitted", "approved", "releasing"]));
  });

  it("needs the quorum of distinct approvers, and one approver approving twice is one decision", async () => {
    const { org, tokens } = await approvalOrg({ steps: [{ role: "finance", quorum: 2 }] });
    const { batchId, operator } = await validatedBatch(org);
    await submit(batchId, operator);
    const first = await approve(batchId, tokens.fran);
    expect(first.body).toMatchObject({ outcome: "recorded", status: "submitted" });
    const twice = await approve(batchId, tokens.fran);
    expect(twice.status).toBe(409);
    expect(twice.body.code).toBe("already_decided");
    const view = await approvals(batchId, tokens.auditor);
    expect(view.steps[0]).toMatchObject({ approvals: 1, status: "pending" });
    expect(view.steps[0].decisions).toHaveLength(1);
    expect((await approve(batchId, tokens.fay)).body.outcome).toBe("approved");
  });

  it("keeps the creator from approving their own batch even with the role, and refuses a wrong role", async () => {
    const { org, tokens } = await approvalOrg();
    const { batchId, operator } = await validatedBatch(org);
    await submit(batchId, operator);
    const own = await approve(batchId, operator); // otto holds finance
    expect(own.status).toBe(403);
    expect(own.body.code).toBe("self_approval_forbidden");
    const wrong = await approve(batchId, tokens.olga);
    expect(wrong.status).toBe(403);
    expect(wrong.body.code).toBe("forbidden");
    expect((await approvals(batchId, tokens.auditor)).steps[0].decisions).toEqual([]);
  });

  it("lets exactly one of two concurrent approvals by the same person count", async () => {
    const { org, tokens } = await approvalOrg({ steps: [{ role: "finance", quorum: 2 }] });
    const { batchId, operator } = await validatedBatch(org);
    await submit(batchId, operator);
    const results = await Promise.all([approve(batchId, tokens.fran), approve(batchId, tokens.fran), approve(batchId, tokens.fran)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    expect((await approvals(batchId, tokens.auditor)).steps[0].approvals).toBe(1);
  });

  it("keeps the policy a batch was submitted under when the org's policy changes later", async () => {
    const { org, tokens } = await approvalOrg({ steps: [{ role: "finance", quorum: 1 }] });
    const { batchId, operator } = await validatedBatch(org);
    await submit(batchId, operator);
    const current = (await callJson("/v1/settings", { token: tokens.admin })).body;
    const { version: _v, updated_by: _b, updated_at: _a, ...settings } = current;
    const stricter = {
      ...settings,
      approval_policy: {
        steps: [
          { role: "finance", quorum: 2 },
          { role: "owner", quorum: 1 },
        ],
      },
    };
    expect((await callJson("/v1/settings", { method: "PUT", token: tokens.admin, body: stricter })).status).toBe(200);
    const view = await approvals(batchId, tokens.auditor);
    expect(view.submission.policy).toEqual({ steps: [{ role: "finance", quorum: 1 }] });
    expect((await approve(batchId, tokens.fran)).body.outcome).toBe("approved");
  });

  it("takes a null comment as none", async () => {
    const { org, tokens } = await approvalOrg();
    const { batchId, operator } = await validatedBatch(org);
    await submit(batchId, operator);
    const res = await callJson(`/v1/batches/${batchId}/approvals`, { token: tokens.fran, body: { decision: "approve", comment: null } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect((await approvals(batchId, tokens.support)).steps[0].decisions[0]).toMatchObject({ approver_sub: "fran", comment: null });
  });

  it("shows who decided when, with the trail of submission, emails, decisions and release", async () => {
    const { org, tokens } = await approvalOrg();
    const { batchId, operator } = await validatedBatch(org);
    await submit(batchId, operator);
    await approve(batchId, tokens.fran, "budget ok");
    const view = await approvals(batchId, tokens.support);
    expect(view.steps[0].decisions[0]).toMatchObject({
      approver_sub: "fran",
      decision: "approve",
      comment: "budget ok",
      via: "api",
      decided_at: expect.any(String),
    });
    const actions = view.trail.map((e: any) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(["batch.submitted", "approval.requested", "approval.email_sent", "approval.decided", "batch.approved", "batch.released"]),
    );
    expect(actions.indexOf("batch.submitted")).toBeLessThan(actions.indexOf("approval.decided"));
    expect(view.trail.find((e: any) => e.action === "approval.decided")).toMatchObject({
      actor: "fran",
      details: { decision: "approve", comment: "budget ok" },
    });
  });
});
