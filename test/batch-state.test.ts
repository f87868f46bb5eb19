import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { BATCH_STATUSES, TRANSITIONS, canTransition, transitionBatch, type BatchStatus } from "../src/batches/batch-state";
import { requireBatch } from "../src/batches/batches.service";
import { AppError } from "../src/core/errors";
import { callJson, uniqueOrg } from "./helpers/api";
import { seedBatch, uploadCsv } from "./helpers/batch-factories";

async function moveTo(org: string, batchId: string, path: BatchStatus[], patch: Record<string, unknown> = {}) {
  for (const to of path) {
    const batch = await requireBatch(env.DB, org, batchId);
    await transitionBatch(env.DB, { batch, to, action: `batch.${to}`, actor: "test", patch: to === "releasing" ? patch : undefined });
  }
}

describe("batch lifecycle", () => {
  it("allows exactly the moves of DESIGN.md and nothing out of a final state", () => {
    expect(canTransition("draft", "validated")).toBe(true);
    expect(canTransition("validated", "submitted")).toBe(true);
    expect(canTransition("submitted", "approved")).toBe(true);
    expect(canTransition("approved", "releasing")).toBe(true);
    expect(canTransition("releasing", "delivering")).toBe(true);
    expect(canTransition("delivering", "completed_with_errors")).toBe(true);
    expect(canTransition("draft", "submitted")).toBe(false);
    expect(canTransition("validated", "approved")).toBe(false);
    expect(canTransition("releasing", "cancelled")).toBe(false);
    for (const final of ["completed", "completed_with_errors", "rejected", "cancelled", "expired"] as const) {
      for (const to of BATCH_STATUSES) expect(canTransition(final, to)).toBe(false);
    }
    for (const from of BATCH_STATUSES) for (const to of TRANSITIONS[from]) expect(BATCH_STATUSES).toContain(to);
  });

  it("refuses an illegal move with invalid_state_transition and changes nothing", async () => {
    const org = uniqueOrg();
    const { batchId } = await seedBatch(org);
    const batch = await requireBatch(env.DB, org, batchId);
    const err = await transitionBatch(env.DB, { batch, to: "approved", action: "batch.approved", actor: "x" }).catch((e) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe("invalid_state_transition");
    expect((await requireBatch(env.DB, org, batchId)).status).toBe("draft");
  });

  it("lets exactly one of two racing transitions from the same state win, with one audit event", async () => {
    const org = uniqueOrg();
    const { batchId, tokens } = await seedBatch(org);
    await uploadCsv(batchId, tokens.operator, "email,country,amount\na@example.com,US,2500\n");
    const batch = await requireBatch(env.DB, org, batchId);
    const results = await Promise.allSettled([
      transitionBatch(env.DB, { batch, to: "submitted", action: "batch.submitted", actor: "a" }),
      transitionBatch(env.DB, { batch, to: "cancelled", action: "batch.cancelled", actor: "b" }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const loser = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(loser.reason.code).toBe("invalid_state_transition");
    const after = await requireBatch(env.DB, org, batchId);
    const events = await env.DB.prepare("SELECT action FROM audit_events WHERE org = ? AND entity_id = ? AND action IN ('batch.submitted', 'batch.cancelled')")
      .bind(org, batchId)
      .all();
    expect(events.results).toHaveLength(1);
    expect(`batch.${after.status}`).toBe(events.results[0]!.action);
    const history = await env.DB.prepare("SELECT seq, from_status, to_status FROM batch_transitions WHERE batch_id = ? ORDER BY seq").bind(batchId).all();
    expect(history.results).toEqual([
      { seq: 1, from_status: "draft", to_status: "validated" },
      { seq: 2, from_status: "validated", to_status: after.status },
    ]);
  });

  it("refuses uploads to a submitted batch with 409 invalid_state_transition", async () => {
    const org = uniqueOrg();
    const { batchId, tokens } = await seedBatch(org);
    await uploadCsv(batchId, tokens.operator, "email,country,amount\na@example.com,US,2500\n");
    await moveTo(org, batchId, ["submitted"]);
    const res = await uploadCsv(batchId, tokens.operator, "email,country,amount\nb@example.com,US,2500\n");
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("invalid_state_transition");
  });
});

describe("prior payouts", () => {
  it("excludes recipients paid by another batch released within the window, not older ones", async () => {
    const org = uniqueOrg();
    const first = await seedBatch(org, { batch: { channel: "link" } });
    await callJson("/v1/settings", { method: "PUT", token: first.tokens.admin, body: { prior_payout_window_days: 30 } });
    await uploadCsv(
      first.batchId,
      first.tokens.operator,
      "email,phone,country,amount\npaid@example.com,,US,2500\n,+14155550142,US,2500\nold@example.com,,US,2500\n",
    );
    await moveTo(org, first.batchId, ["submitted", "approved", "releasing", "delivering", "completed"], { releasedAt: new Date().toISOString() });
    // A batch released 90 days ago is outside the window.
    const old = await seedBatch(org);
    await uploadCsv(old.batchId, old.tokens.operator, "email,country,amount\nancient@example.com,US,2500\n");
    await moveTo(org, old.batchId, ["submitted", "approved", "releasing"], { releasedAt: new Date(Date.now() - 90 * 86_400_000).toISOString() });

    const next = await seedBatch(org, { batch: { channel: "link" } });
    const res = await uploadCsv(
      next.batchId,
      next.tokens.operator,
      "email,phone,country,amount\nPAID@example.com,,US,2500\nnew@example.com,+1 415 555 0142,US,2500\nancient@example.com,,US,2500\n",
    );
    expect(res.body.upload).toMatchObject({ valid: 1, excluded: 2 });
    const rows = (await callJson(`/v1/batches/${next.batchId}/recipients`, { token: next.tokens.operator })).body.data;
    expect(rows.map((r: any) => r.reasons)).toEqual([["prior_payout_within_window"], ["prior_payout_within_window"], []]);
  });
});
