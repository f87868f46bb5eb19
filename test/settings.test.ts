import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson, uniqueOrg } from "./helpers/api";
import { orgTokens, seedBatch, uploadCsv } from "./helpers/batch-factories";

describe("org settings", () => {
  it("answers defaults before the first save, then the saved document, audited", async () => {
    const org = uniqueOrg();
    const t = await orgTokens(org);
    const first = await callJson("/v1/settings", { token: t.auditor });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ version: 0, allowed_countries: null, prior_payout_window_days: 0, expected_count_tolerance_pct: 10 });
    expect(first.body.approval_policy.steps[0]).toMatchObject({ role: "finance", quorum: 1 });
    const body = {
      allowed_countries: ["US", "CA"],
      allowed_currencies: ["USD"],
      per_recipient_caps: { USD: 50_000 },
      prior_payout_window_days: 30,
      expected_count_tolerance_pct: 5,
    };
    const saved = await callJson("/v1/settings", { method: "PUT", token: t.admin, body });
    expect(saved.status).toBe(200);
    expect(saved.body).toMatchObject({ ...body, version: 1, updated_by: "ada" });
    expect((await callJson("/v1/settings", { token: t.operator })).body).toMatchObject({ ...body, version: 1 });
    const audit = await env.DB.prepare("SELECT before, after FROM audit_events WHERE org = ? AND action = 'settings.updated'").bind(org).all<any>();
    expect(audit.results).toHaveLength(1);
    expect(JSON.parse(audit.results[0].after).prior_payout_window_days).toBe(30);
  });

  it("validates the document as a whole", async () => {
    const t = await orgTokens(uniqueOrg());
    const bad = [
      { allowed_countries: ["XX"] },
      { allowed_currencies: ["usd"] },
      { per_recipient_caps: { USD: -1 } },
      { allowed_currencies: ["EUR"], per_recipient_caps: { USD: 100 } },
      { approval_policy: { steps: [] } },
      { approvers: [{ sub: "a", email: "a@example.com", roles: ["finance"] }] },
      { unknown: true },
    ];
    for (const body of bad) {
      const res = await callJson("/v1/settings", { method: "PUT", token: t.admin, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    expect((await callJson("/v1/settings", { method: "PUT", token: t.operator, body: {} })).status).toBe(403);
  });

  it("points at each unknown field", async () => {
    const t = await orgTokens(uniqueOrg());
    const res = await callJson("/v1/settings", {
      method: "PUT",
      token: t.admin,
      body: { prior_payout_window_days: 3, extra: 1, release_defaults: { auto_release: true, x: 2 } },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: any) => e.pointer).sort()).toEqual(["/extra", "/release_defaults/x"]);
  });

  it("refuses an empty or missing body instead of resetting every setting", async () => {
    const org = uniqueOrg();
    const t = await orgTokens(org);
    const saved = { prior_payout_window_days: 21 };
    expect((await callJson("/v1/settings", { method: "PUT", token: t.admin, body: saved })).status).toBe(200);
    const attempts = [
      { method: "PUT", token: t.admin },
      { method: "PUT", token: t.admin, body: {} },
      { method: "PUT", token: t.admin, rawBody: "[]", headers: { "content-type": "application/json" } },
    ];
    for (const attempt of attempts) {
      const res = await callJson("/v1/settings", attempt);
      expect(res.status, JSON.stringify(attempt)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    const now = await callJson("/v1/settings", { token: t.admin });
    expect(now.body).toMatchObject({ version: 1, ...saved });
  });

  it("takes back what GET answered (read-modify-write), and refuses a stale version with 409", async () => {
    const org = uniqueOrg();
    const t = await orgTokens(org);
    const read = (await callJson("/v1/settings", { token: t.admin })).body;
    const saved = await callJson("/v1/settings", { method: "PUT", token: t.admin, body: { ...read, prior_payout_window_days: 14 } });
    expect(saved.status).toBe(200);
    expect(saved.body).toMatchObject({ version: 1, prior_payout_window_days: 14, updated_by: "ada" });
    // A second admin still holding version 0 would overwrite the first one's change.
    const stale = await callJson("/v1/settings", { method: "PUT", token: t.admin, body: { ...read, expected_count_tolerance_pct: 3 } });
    expect(stale.status).toBe(409);
    expect(stale.body.code).toBe("conflict");
    const current = (await callJson("/v1/settings", { token: t.admin })).body;
    expect(current).toMatchObject({ version: 1, prior_payout_window_days: 14, expected_count_tolerance_pct: 10 });
    // Without a version the PUT replaces unconditionally, as before.
    expect((await callJson("/v1/settings", { method: "PUT", token: t.admin, body: { prior_payout_window_days: 1 } })).body.version).toBe(2);
  });
});

describe("suppressions", () => {
  it("adds normalised entries idempotently, lists and deletes them", async () => {
    const t = await orgTokens(uniqueOrg());
    const add = await callJson("/v1/suppressions", {
      token: t.support,
      body: {
        entries: [
          { email: " Ann+Promo@Example.com ", reason: "asked" },
          { phone: "(415) 555-0100", country: "US", reason: "fraud" },
        ],
      },
    });
    expect(add.status).toBe(201);
    expect(add.body.data.map((s: any) => [s.kind, s.value])).toEqual([
      ["email", "ann@example.com"],
      ["phone", "+14155550100"],
    ]);
    const again = await callJson("/v1/suppressions", { token: t.admin, body: { entries: [{ email: "ann@example.com", reason: "again" }] } });
    expect(again.body.data[0]).toMatchObject({ id: add.body.data[0].id, reason: "asked" });
    const list = await callJson("/v1/suppressions", { token: t.auditor });
    expect(list.body.data).toHaveLength(2);
    expect((await callJson(`/v1/suppressions/${add.body.data[0].id}`, { method: "DELETE", token: t.support })).status).toBe(403);
    const del = await callJson(`/v1/suppressions/${add.body.data[0].id}`, { method: "DELETE", token: t.admin });
    expect(del.status).toBe(204);
    expect((await callJson("/v1/suppressions", { token: t.auditor })).body.data).toHaveLength(1);
    const other = await orgTokens(uniqueOrg());
    expect((await callJson(`/v1/suppressions/${add.body.data[1].id}`, { method: "DELETE", token: other.admin })).status).toBe(404);
  });

  it("refuses invalid entries and entries with both or neither of email and phone", async () => {
    const t = await orgTokens(uniqueOrg());
    for (const entry of [
      { email: "nope", reason: "x" },
      { phone: "12", reason: "x" },
      { email: "a@example.com", phone: "+14155550100", reason: "x" },
      { reason: "x" },
    ]) {
      const res = await callJson("/v1/suppressions", { token: t.admin, body: { entries: [entry] } });
      expect(res.status, JSON.stringify(entry)).toBe(400);
    }
  });

  it("excludes suppressed emails and phones from batches, +tags and case included", async () => {
    const org = uniqueOrg();
    const t = await orgTokens(org);
    await callJson("/v1/suppressions", {
      token: t.admin,
      body: {
        entries: [
          { email: "blocked@example.com", reason: "x" },
          { phone: "+14155550199", reason: "y" },
        ],
      },
    });
    const { batchId, tokens } = await seedBatch(org);
    const res = await uploadCsv(
      batchId,
      tokens.operator,
      "email,phone,country,amount\nBlocked+x@Example.com,,US,2500\nok@example.com,415 555 0199,US,2500\nfine@example.com,,US,2500\n",
    );
    expect(res.body.upload).toMatchObject({ valid: 1, excluded: 2 });
  });
});
