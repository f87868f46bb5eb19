import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, callJson, token, uniqueOrg } from "./helpers/api";
import { seedBatch, uploadCsv } from "./helpers/batch-factories";
import { createPool } from "./helpers/factories";

async function poolCount(org: string) {
  return (await env.DB.prepare("SELECT COUNT(*) AS n FROM pools WHERE org = ?").bind(org).first<{ n: number }>())!.n;
}

describe("Idempotency-Key on POST", () => {
  it("replays the stored response with Idempotent-Replayed and makes no second effect", async () => {
    const org = uniqueOrg();
    const t = await token({ org, roles: ["finance"] });
    const headers = { "idempotency-key": "create-pool-1" };
    const first = await call("/v1/pools", { token: t, body: { name: "A", currency: "USD" }, headers });
    const second = await call("/v1/pools", { token: t, body: { name: "A", currency: "USD" }, headers });
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(await second.text()).toBe(await first.text());
    expect(await poolCount(org)).toBe(1);
  });

  it("refuses the same key with another body with 422 and no second effect", async () => {
    const org = uniqueOrg();
    const t = await token({ org, roles: ["finance"] });
    const headers = { "idempotency-key": "k-422" };
    expect((await call("/v1/pools", { token: t, body: { name: "A", currency: "USD" }, headers })).status).toBe(201);
    const reused = await callJson("/v1/pools", { token: t, body: { name: "B", currency: "USD" }, headers });
    expect(reused.status).toBe(422);
    expect(reused.body.code).toBe("idempotency_key_reused");
    expect(await poolCount(org)).toBe(1);
  });

  it("lets 20 concurrent requests with one key make exactly one effect", async () => {
    const org = uniqueOrg();
    const { id, finance } = await createPool(org);
    const headers = { "idempotency-key": "fund-once" };
    const responses = await Promise.all(Array.from({ length: 20 }, () => call(`/v1/pools/${id}/fund`, { token: finance, body: { amount: 700 }, headers })));
    const statuses = responses.map((r) => r.status);
    expect(statuses.every((s) => s === 200 || s === 409)).toBe(true);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1);
    const pool = await callJson(`/v1/pools/${id}`, { token: finance });
    expect(pool.body.balance.funded).toBe(700);
    const ledger = await callJson(`/v1/pools/${id}/ledger`, { token: finance });
    expect(ledger.body.data).toHaveLength(1);
  });

  it("keys are per org: another org may use the same key", async () => {
    const headers = { "idempotency-key": "shared-key" };
    const a = await call("/v1/pools", { token: await token({ org: uniqueOrg(), roles: ["finance"] }), body: { name: "A", currency: "USD" }, headers });
    const b = await call("/v1/pools", { token: await token({ org: uniqueOrg(), roles: ["finance"] }), body: { name: "A", currency: "USD" }, headers });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.headers.get("idempotent-replayed")).toBeNull();
  });

  it("keys belong to the caller: another person of the org using the same key makes a request of their own", async () => {
    const org = uniqueOrg();
    const headers = { "idempotency-key": "q4-pool" };
    const body = { name: "A", currency: "USD" };
    const fran = await call("/v1/pools", { token: await token({ org, sub: "fran", roles: ["finance"] }), body, headers });
    const fay = await call("/v1/pools", { token: await token({ org, sub: "fay", roles: ["finance"] }), body, headers });
    expect([fran.status, fay.status]).toEqual([201, 201]);
    expect(fay.headers.get("idempotent-replayed")).toBeNull();
    const again = await call("/v1/pools", { token: await token({ org, sub: "fay", roles: ["finance"] }), body, headers });
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await poolCount(org)).toBe(2);
  });

  it("does not store a 409 that only says 'not now' (a lock held): the retry with the same key runs once the lock is gone", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const headers = { "idempotency-key": "upload-after-lock" };
    const future = new Date(Date.now() + 60_000).toISOString();
    await env.DB.prepare("UPDATE batches SET uploading_id = 'upl_other', uploading_until = ? WHERE id = ?").bind(future, batchId).run();
    const locked = await uploadCsv(batchId, tokens.operator, "email,country,amount\na@example.com,US,2500\n", headers);
    expect([locked.status, locked.body.code]).toEqual([409, "conflict"]);
    await env.DB.prepare("UPDATE batches SET uploading_id = NULL, uploading_until = NULL WHERE id = ?").bind(batchId).run();
    const retried = await uploadCsv(batchId, tokens.operator, "email,country,amount\na@example.com,US,2500\n", headers);
    expect(retried.status).toBe(200);
    expect(retried.res.headers.get("idempotent-replayed")).toBeNull();
    expect(retried.body.counts.valid).toBe(1);
  });

  it("answers a key still in flight with 409 and Retry-After", async () => {
    const org = uniqueOrg();
    const now = Date.now();
    await env.DB.prepare("INSERT INTO idempotency_keys (org, key, request_hash, state, created_at, expires_at) VALUES (?, ?, '', 'in_flight', ?, ?)")
      .bind(org, "alice\x1fbusy-key", new Date(now).toISOString(), new Date(now + 60_000).toISOString())
      .run();
    const res = await callJson("/v1/pools", {
      token: await token({ org, roles: ["finance"] }),
      body: { name: "A", currency: "USD" },
      headers: { "idempotency-key": "busy-key" },
    });
    expect([res.status, res.body.code]).toEqual([409, "idempotency_key_in_flight"]);
    expect(Number(res.res.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("takes no body and {} as the same request under one key", async () => {
    const org = uniqueOrg();
    const fin = await token({ org, roles: ["finance"] });
    const headers = { "idempotency-key": "run-now" };
    const first = await callJson("/v1/reconciliations", { token: fin, method: "POST", headers });
    expect(first.status).toBe(201);
    const same = await callJson("/v1/reconciliations", { token: fin, body: {}, headers });
    expect([same.status, same.res.headers.get("idempotent-replayed"), same.body.id]).toEqual([201, "true", first.body.id]);
    const other = await callJson("/v1/reconciliations", {
      token: fin,
      rawBody: '{"scope":1}',
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
    });
    expect(other.status).toBe(422);
  });

  it("refuses keys longer than 255 characters with 400", async () => {
    const t = await token({ org: uniqueOrg(), roles: ["finance"] });
    const res = await callJson("/v1/pools", { token: t, body: { name: "A", currency: "USD" }, headers: { "idempotency-key": "k".repeat(256) } });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("invalid_idempotency_key");
    expect(res.body.errors[0].header).toBe("Idempotency-Key");
  });

  it("does not store a 403, so a retry with the right role goes through", async () => {
    const org = uniqueOrg();
    const headers = { "idempotency-key": "after-403" };
    const denied = await call("/v1/pools", { token: await token({ org, roles: ["operator"] }), body: { name: "A", currency: "USD" }, headers });
    expect(denied.status).toBe(403);
    const ok = await call("/v1/pools", { token: await token({ org, roles: ["admin"] }), body: { name: "A", currency: "USD" }, headers });
    expect(ok.status).toBe(201);
  });

  it("checks the role before replaying: a caller without the route's role gets 403, not the stored response", async () => {
    const org = uniqueOrg();
    const headers = { "idempotency-key": "role-first" };
    const body = { name: "A", currency: "USD" };
    const first = await call("/v1/pools", { token: await token({ org, roles: ["finance"] }), body, headers });
    expect(first.status).toBe(201);
    for (const roles of [["operator"], ["auditor"], []] as const) {
      const replay = await callJson("/v1/pools", { token: await token({ org, roles: [...roles] }), body, headers });
      expect(replay.status).toBe(403);
      expect(replay.body.code).toBe("forbidden");
      expect(replay.res.headers.get("idempotent-replayed")).toBeNull();
    }
    // Another caller who holds the role gets the replay.
    const admin = await call("/v1/pools", { token: await token({ org, roles: ["admin"] }), body, headers });
    expect(admin.status).toBe(201);
    expect(admin.headers.get("idempotent-replayed")).toBe("true");
    expect(await poolCount(org)).toBe(1);
  });
});

describe("Idempotency-Key on streamed CSV uploads", () => {
  const csv = (rows: number, header = "email,country,amount") =>
    `${header}\n${Array.from({ length: rows }, (_, i) => `u${i}@example.com,US,2500`).join("\n")}\n`;

  it("streams an upload through the key: a retry replays it without storing its rows twice", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const headers = { "idempotency-key": "upload-1" };
    const body = csv(12_000); // several 5,000-row chunks
    const first = await uploadCsv(batchId, tokens.operator, body, headers);
    expect(first.status).toBe(200);
    expect(first.body.upload.rows).toBe(12_000);
    const retry = await uploadCsv(batchId, tokens.operator, body, headers);
    expect(retry.status).toBe(200);
    expect(retry.res.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.body.upload.id).toBe(first.body.upload.id);
    const stored = await env.DB.prepare("SELECT count(*) AS n FROM batch_recipients WHERE batch_id = ?").bind(batchId).first<{ n: number }>();
    expect(stored!.n).toBe(12_000);
    const changed = await uploadCsv(batchId, tokens.operator, csv(12_001), headers);
    expect(changed.status).toBe(422);
    expect(changed.body.code).toBe("idempotency_key_reused");
  });

  it("hashes the whole body even when the route stops reading early, so a changed tail is still another request", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const headers = { "idempotency-key": "bad-header" };
    // The route refuses the header line and reads no further than its first chunk.
    const body = csv(20_000, "email,country");
    const first = await uploadCsv(batchId, tokens.operator, body, headers);
    expect(first.status).toBe(400);
    expect(first.body.code).toBe("invalid_csv");
    const retry = await uploadCsv(batchId, tokens.operator, body, headers);
    expect(retry.status).toBe(400);
    expect(retry.res.headers.get("idempotent-replayed")).toBe("true");
    const tail = await uploadCsv(batchId, tokens.operator, `${body}zz@example.com,US\n`, headers);
    expect(tail.status).toBe(422);
  });
});

describe("request errors", () => {
  it("answers malformed JSON with 400 problem+json", async () => {
    const t = await token({ roles: ["finance"] });
    const res = await call("/v1/pools", { token: t, rawBody: "{ not json", headers: { "content-type": "application/json" } });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect((await res.json<any>()).code).toBe("invalid_json");
  });

  it("answers a body over the limit with 413 problem+json", async () => {
    const t = await token({ roles: ["finance"] });
    const res = await call("/v1/pools", {
      token: t,
      rawBody: JSON.stringify({ name: "x".repeat(2 * 1024 * 1024), currency: "USD" }),
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(413);
    expect((await res.json<any>()).code).toBe("payload_too_large");
  });

  it("answers a wrong method on a known /v1 path with 405", async () => {
    const t = await token({ roles: ["finance"] });
    const res = await call("/v1/pools", { method: "DELETE", token: t });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toContain("POST");
  });
});
