import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { closeFlow } from "../src/approvals/store";
import { expireSubmissions, finishExitHolds } from "../src/approvals/sweep";
import { transitionBatch } from "../src/batches/batch-state";
import { requireBatch } from "../src/batches/batches.service";
import { releaseDueBatches } from "../src/approvals/release";
import { CRON_JOBS, runCron } from "../src/cron";
import { submitBatch } from "../src/approvals/submit";
import { poolStub } from "../src/pools/pool-client";
import { callJson } from "./helpers/api";
import { approvalOrg, ledgerKinds, poolBalance, submit, transitions, validatedBatch } from "./helpers/approval-factories";
import { seedBatch } from "./helpers/batch-factories";

const decide = (batchId: string, t: string, decision: "approve" | "reject", comment?: string) =>
  callJson(`/v1/batches/${batchId}/approvals`, { token: t, body: { decision, comment } });
const statusOf = async (batchId: string, t: string) => (await callJson(`/v1/batches/${batchId}`, { token: t })).body.status;
/** The buckets a hold moves between (released/funded totals grow on purpose). */
const buckets = async (poolId: string, t: string) => {
  const { available, reserved, committed } = await poolBalance(poolId, t);
  return { available, reserved, committed };
};
const holdEntries = async (poolId: string, t: string, batchId: string) =>
  (await ledgerKinds(poolId, t)).filter((e) => e.hold_id === `hold_${batchId}` && e.kind !== "reserve").map((e) => [e.kind, e.amount]);

describe("rejection and cancellation release the hold exactly once", () => {
  it("rejects at any step, gives the value back once and tells the creator", async () => {
    const { org, tokens, emails } = await approvalOrg();
    const { batchId, poolId, operator, total } = await validatedBatch(org, { fund: 80_000 });
    const before = await buckets(poolId, tokens.finance);
    await submit(batchId, operator);
    const res = await decide(batchId, tokens.fran, "reject", "wrong cost center");
    expect(res.body).toMatchObject({ outcome: "rejected", status: "rejected" });
    expect(await buckets(poolId, tokens.finance)).toEqual(before);
    expect(await holdEntries(poolId, tokens.finance, batchId)).toEqual([["release", total]]);

    const cancel = await callJson(`/v1/batches/${batchId}/cancel`, { token: operator, body: {} });
    expect(cancel.status).toBe(409);
    await finishExitHolds(env, new Date(Date.now() + 3_600_000));
    expect(await buckets(poolId, tokens.finance)).toEqual(before);
    expect(await holdEntries(poolId, tokens.finance, batchId)).toEqual([["release", total]]);

    // otto's other message is the verification link of his own enrolment.
    const mail = (await callJson(`/dev/outbox?to=${encodeURIComponent(emails.otto)}`)).body.data.filter((m: any) => !m.subject.includes("approver enrolment"));
    expect(mail).toHaveLength(1);
    expect(mail[0].subject).toContain("Batch rejected");
    expect(mail[0].text).toContain("wrong cost center");
    const view = (await callJson(`/v1/batches/${batchId}/approvals`, { token: operator })).body;
    expect(view.submission).toMatchObject({ state: "rejected", hold: { released_at: expect.any(String) } });
    expect(view.steps[0].requests.every((r: any) => r.status === "superseded")).toBe(true);
    expect(view.trail.map((e: any) => e.action)).toEqual(expect.arrayContaining(["batch.rejected", "batch.hold_released", "approval.creator_notified"]));
  });

  it("records that the creator could not be told when their email is unknown", async () => {
    const { org, tokens } = await approvalOrg({ creatorListed: false });
    const { batchId, operator } = await validatedBatch(org);
    await submit(batchId, operator);
    await decide(batchId, tokens.fay, "reject");
    const trail = (await callJson(`/v1/batches/${batchId}/approvals`, { token: operator })).body.trail;
    expect(trail.find((e: any) => e.action === "approval.creator_not_notified")).toMatchObject({ details: { creator: "otto" } });
  });

  it("cancels a submitted and an approved batch, releasing each hold once; finance may cancel, support may not", async () => {
    const { org, tokens } = await approvalOrg({ autoRelease: false });
    for (const approveFirst of [false, true]) {
      const { batchId, poolId, operator, total } = await validatedBatch(org);
      const before = await buckets(poolId, tokens.finance);
      await submit(batchId, operator);
      if (approveFirst) expect((await decide(batchId, tokens.fran, "approve")).body.status).toBe("approved");
      expect((await callJson(`/v1/batches/${batchId}/cancel`, { token: tokens.support, body: {} })).status).toBe(403);
      const [a, b] = await Promise.all([
        callJson(`/v1/batches/${batchId}/cancel`, { token: tokens.finance, body: { reason: "budget moved" } }),
        callJson(`/v1/batches/${batchId}/cancel`, { token: operator, body: {} }),
      ]);
      expect([a.status, b.status].sort()).toEqual([200, 409]);
      expect(await statusOf(batchId, operator)).toBe("cancelled");
      expect(await buckets(poolId, tokens.finance)).toEqual(before);
      expect(await holdEntries(poolId, tokens.finance, batchId)).toEqual([["release", total]]);
    }
  });

  it("finishes a hold release that a crash interrupted after the status change, once", async () => {
    const { org, tokens } = await approvalOrg();
    const { batchId, poolId, operator, total } = await validatedBatch(org);
    const before = await buckets(poolId, tokens.finance);
    await submit(batchId, operator);
    const batch = await requireBatch(env.DB, org, batchId);
    const past = new Date(Date.now() - 120_000).toISOString();
    await transitionBatch(env.DB, {
      batch,
      to: "cancelled",
      action: "batch.cancelled",
      actor: "otto",
      extra: closeFlow(env.DB, batchId, ["open"], "cancelled", past, "otto"),
    });
    expect((await buckets(poolId, tokens.finance)).reserved).toBe(before.reserved + total);
    await finishExitHolds(env, new Date());
    await finishExitHolds(env, new Date());
    expect(await buckets(poolId, tokens.finance)).toEqual(before);
    expect(await holdEntries(poolId, tokens.finance, batchId)).toEqual([["release", total]]);
  });
});

describe("expiry", () => {
  it("expires a submitted batch whose hold the pool's alarm already expired", async () => {
    const { org, tokens } = await approvalOrg();
    const { batchId, poolId, total } = await validatedBatch(org);
    const before = await buckets(poolId, tokens.finance);
    await submitBatch({ ...env, HOLD_TTL_HOURS: String(1 / 3600) }, { org, sub: "otto", roles: ["operator"] }, batchId, "http://localhost");
    await new Promise((r) => setTimeout(r, 1100));
    await runDurableObjectAlarm(poolStub(env, poolId)); // runs it now unless it already ran on time
    expect((await poolStub(env, poolId).getHold(`hold_${batchId}`))?.state).toBe("expired");
    expect(await expireSubmissions(env, new Date())).toBeGreaterThanOrEqual(1);
    expect(await statusOf(batchId, tokens.finance)).toBe("expired");
    expect(await buckets(poolId, tokens.finance)).toEqual(before);
    expect(await holdEntries(poolId, tokens.finance, batchId)).toEqual([["expire", total]]);
    const view = (await callJson(`/v1/batches/${batchId}/approvals`, { token: tokens.finance })).body;
    expect(view.submission.state).toBe("expired");
  });

  it("expires a submitted batch whose hold is still pending and releases it", async () => {
    const { org, tokens } = await approvalOrg();
    const { batchId, poolId, operator, total } = await validatedBatch(org);
    const before = await buckets(poolId, tokens.finance);
    await submit(batchId, operator);
    const later = new Date(Date.now() + 8 * 24 * 3_600_000);
    while ((await expireSubmissions(env, later)) > 0); // every open flow in this file is due by then
    expect(await statusOf(batchId, operator)).toBe("expired");
    expect(await buckets(poolId, tokens.finance)).toEqual(before);
    expect(await holdEntries(poolId, tokens.finance, batchId)).toEqual([["release", total]]);
  });
});

describe("release", () => {
  it("keeps a batch with a future release_at approved until the cron releases it then", async () => {
    const { org, tokens } = await approvalOrg();
    const releaseAt = new Date(Date.now() + 3_600_000).toISOString();
    const { batchId, operator } = await validatedBatch(org, { batch: { release_at: releaseAt } });
    await submit(batchId, operator);
    expect((await decide(batchId, tokens.fran, "approve")).body.status).toBe("approved");
    const early = await callJson(`/v1/batches/${batchId}/release`, { token: operator, method: "POST" });
    expect(early.status).toBe(409);
    await releaseDueBatches(env, new Date());
    expect(await statusOf(batchId, operator)).toBe("approved");
    await releaseDueBatches(env, new Date(Date.now() + 2 * 3_600_000));
    expect(await transitions(batchId)).toEqual(["validated", "submitted", "approved", "releasing", ...(await transitions(batchId)).slice(4)]);
    const hold = (await callJson(`/v1/batches/${batchId}/approvals`, { token: operator })).body.submission.hold;
    expect(Date.parse(hold.expires_at)).toBeGreaterThan(Date.parse(releaseAt));
  });

  it("waits for an operator when auto-release is off; only operators release", async () => {
    const { org, tokens } = await approvalOrg({ autoRelease: false });
    const { batchId, operator } = await validatedBatch(org);
    await submit(batchId, operator);
    await decide(batchId, tokens.fran, "approve");
    expect(await statusOf(batchId, operator)).toBe("approved");
    await releaseDueBatches(env, new Date(Date.now() + 3_600_000));
    expect(await statusOf(batchId, operator)).toBe("approved");
    expect((await callJson(`/v1/batches/${batchId}/release`, { token: tokens.finance, method: "POST" })).status).toBe(403);
    const res = await callJson(`/v1/batches/${batchId}/release`, { token: operator, method: "POST" });
    expect(res.status).toBe(200);
    expect(await transitions(batchId)).toContain("releasing");
  });

  it("refuses to release a batch that is not approved", async () => {
    const { org } = await approvalOrg();
    const { batchId, tokens } = await seedBatch(org);
    const res = await callJson(`/v1/batches/${batchId}/release`, { token: tokens.operator, method: "POST" });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("invalid_state_transition");
  });
});

describe("cron", () => {
  it("runs the approval sweeps and scheduled releases every five minutes", async () => {
    const jobs = ["approvals.expire-holds", "approvals.finish-exit-holds", "batches.scheduled-releases"];
    expect(Object.keys(CRON_JOBS["*/5 * * * *"]!)).toEqual(expect.arrayContaining(jobs));
    const outcome = await runCron(env, "*/5 * * * *", new Date());
    for (const job of jobs) expect(outcome[job]).toBe("ok");
  });
});
