import { describe, expect, it } from "vitest";
import { encodeCursor } from "../src/core/pagination";
import { call, callJson, token, uniqueOrg } from "./helpers/api";
import { seedBatch } from "./helpers/batch-factories";
import { validateOpenApi31 } from "./helpers/openapi-validator";

describe("service routes", () => {
  it("answers /health without a token", async () => {
    const { status, body } = await callJson("/health");
    expect(status).toBe(200);
    expect(body).toEqual({ status: "ok" });
  });

  it("returns the caller of /v1/me from the token", async () => {
    const t = await token({ org: "acme", sub: "alice", roles: ["operator", "finance"] });
    const { status, body, res } = await callJson("/v1/me", { token: t });
    expect(status).toBe(200);
    expect(body).toEqual({ sub: "alice", org: "acme", roles: ["operator", "finance"] });
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  it("serves a valid OpenAPI 3.1 document with the bearer scheme and every route", async () => {
    const { status, body } = await callJson("/openapi.json");
    expect(status).toBe(200);
    expect(body.openapi).toBe("3.1.0");
    const result = validateOpenApi31(body);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(body.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    expect(body.paths["/v1/me"].get.security).toEqual([{ bearerAuth: [] }]);
    expect(body.paths["/v1/me"].get.responses["401"].content["application/problem+json"]).toBeTruthy();
    expect(body.paths["/openapi.json"].get).toBeTruthy();
    expect(body.paths["/docs"].get).toBeTruthy();
  });

  it("names every operation uniquely (operationId) and documents 413 and 415 wherever a body is taken", async () => {
    const { body } = await callJson("/openapi.json");
    const ids: string[] = [];
    const undocumented: string[] = [];
    for (const [path, ops] of Object.entries<any>(body.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        ids.push(op.operationId);
        if (op.requestBody && !(op.responses["413"] && op.responses["415"])) undocumented.push(`${method} ${path}`);
      }
    }
    expect(
      ids.every((id) => typeof id === "string" && /^[a-z][A-Za-z]+$/.test(id)),
      ids.join(", "),
    ).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(body.paths["/v1/batches/{id}/preview"].get.operationId).toBe("previewBatch");
    expect(undocumented).toEqual([]);
    expect(body.paths["/v1/pools"].post.responses["413"].content["application/problem+json"]).toBeTruthy();
  });

  it("declares a role check on every /v1 operation (protect(): roles first, then Idempotency-Key)", async () => {
    const { body } = await callJson("/openapi.json");
    const unguarded: string[] = [];
    for (const [path, ops] of Object.entries<any>(body.paths)) {
      if (!path.startsWith("/v1/")) continue;
      for (const [method, op] of Object.entries<any>(ops)) {
        if (!Array.isArray(op["x-roles"]) || op["x-roles"].length === 0 || !op.security) unguarded.push(`${method} ${path}`);
      }
    }
    expect(unguarded).toEqual([]);
  });

  it("serves an interactive reference page at /docs", async () => {
    const res = await call("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(await res.text()).toContain("/openapi.json");
  });
});

describe("errors are problem+json", () => {
  it("answers an unknown route with 404 problem+json", async () => {
    const res = await call("/nope");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    const body = await res.json<any>();
    expect(body).toMatchObject({ status: 404, code: "not_found", title: expect.any(String), type: expect.any(String) });
  });

  it("answers a known path with the wrong method with 405 and Allow", async () => {
    const res = await call("/health", { method: "DELETE" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toContain("GET");
    expect((await res.json<any>()).code).toBe("method_not_allowed");
  });

  it("answers 401 with WWW-Authenticate: Bearer", async () => {
    const res = await call("/v1/pools");
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
  });

  it("refuses a cursor that no list gave out with 400, instead of an empty or first page", async () => {
    const t = await token({ org: uniqueOrg(), roles: ["admin", "finance", "operator", "auditor"] });
    const b64 = (s: string) => btoa(s).replaceAll("=", "");
    for (const path of ["/v1/pools", "/v1/products", "/v1/suppressions", "/v1/reconciliations", "/v1/batches", "/v1/deliveries", "/v1/exceptions"]) {
      // The last one is well made, but another list's: batches' on every list, deliveries' on batches.
      const foreign = path === "/v1/batches" ? encodeCursor("dlv", "dlv_01kbxyz0123456789") : encodeCursor("bat", "bat_01kbxyz0123456789");
      for (const cursor of [b64("foo"), b64('{"x":1}'), "%%%", b64("pool_01kbxyz0123456789"), foreign]) {
        const res = await callJson(`${path}?cursor=${encodeURIComponent(cursor)}`, { token: t });
        expect(res.status, `${path} ${cursor}`).toBe(400);
        expect(res.body.errors[0]).toMatchObject({ parameter: "cursor" });
      }
    }
  });

  it("refuses a query parameter a list does not know, on every list alike", async () => {
    const t = await token({ org: uniqueOrg(), roles: ["admin", "finance", "operator", "auditor"] });
    for (const path of [
      "/v1/pools",
      "/v1/products",
      "/v1/suppressions",
      "/v1/batches",
      "/v1/deliveries",
      "/v1/exceptions",
      "/v1/reconciliations",
      "/v1/audit",
    ]) {
      const res = await callJson(`${path}?sttaus=open`, { token: t });
      expect(res.status, path).toBe(400);
      expect(res.body.errors[0]).toMatchObject({ parameter: "sttaus", code: "unrecognized_keys" });
    }
  });
});

describe("the OpenAPI validator itself", () => {
  it("rejects a document that is not OpenAPI 3.1", () => {
    expect(validateOpenApi31({ openapi: "3.1.0", paths: {} }).valid).toBe(false);
    expect(
      validateOpenApi31({
        openapi: "3.1.0",
        info: { title: "x", version: "1" },
        paths: { "/a": { get: { responses: { 200: { $ref: "#/components/responses/missing" } } } } },
      }).valid,
    ).toBe(false);
  });
});

describe("request bodies", () => {
  it("reads Content-Type: application/json with no body as no body, not as malformed JSON", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const jsonNoBody = { method: "POST", headers: { "content-type": "application/json" } };
    // An optional body: the route runs.
    const cancelled = await callJson(`/v1/batches/${batchId}/cancel`, { token: tokens.operator, ...jsonNoBody });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe("cancelled");
    // A required body: its fields are named, rather than "not valid JSON".
    const decided = await callJson(`/v1/batches/${batchId}/approvals`, { token: tokens.finance, ...jsonNoBody });
    expect(decided.status).toBe(400);
    expect(decided.body.code).toBe("validation_failed");
    expect(decided.body.errors[0]).toMatchObject({ pointer: "/decision" });
    // A body that is there and broken is still malformed.
    const broken = await callJson(`/v1/batches/${batchId}/cancel`, { token: tokens.operator, ...jsonNoBody, rawBody: "{" });
    expect(broken.body.code).toBe("invalid_json");
  });

  it("refuses a JSON body that is not valid UTF-8 instead of storing U+FFFD, on every JSON route", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const bytes = (text: string) => {
      const [before, after] = text.split("\uFFFD") as [string, string];
      return new Uint8Array([...new TextEncoder().encode(before), 0xff, 0xfe, ...new TextEncoder().encode(after)]);
    };
    const json = { "content-type": "application/json" };
    const cases = [
      { path: "/v1/pools", token: tokens.finance, body: '{"name":"Q\uFFFD4","currency":"USD"}' },
      {
        path: `/v1/batches/${batchId}/recipients`,
        token: tokens.operator,
        body: '{"recipients":[{"name":"Ann\uFFFD","email":"a@example.com","country":"US","amount":2500}]}',
      },
      { path: `/v1/batches/${batchId}/cancel`, token: tokens.operator, body: '{"reason":"no\uFFFD"}', headers: { "idempotency-key": "utf8-cancel" } },
    ];
    for (const c of cases) {
      const res = await callJson(c.path, { token: c.token, method: "POST", rawBody: bytes(c.body), headers: { ...json, ...c.headers } });
      expect(res.status, c.path).toBe(400);
      expect(res.res.headers.get("content-type")).toBe("application/problem+json");
      expect(res.body).toMatchObject({ code: "invalid_json", detail: expect.stringMatching(/UTF-8/) });
    }
    const pools = await callJson("/v1/pools", { token: tokens.finance });
    expect(pools.body.data.filter((p: { name: string }) => p.name.includes("\uFFFD"))).toEqual([]);
    // Valid UTF-8 (and an Idempotency-Key, which reads the body after this check) still goes through.
    const ok = await callJson("/v1/pools", {
      token: tokens.finance,
      method: "POST",
      rawBody: new TextEncoder().encode('{"name":"Zoë 🎁","currency":"USD"}'),
      headers: { ...json, "idempotency-key": "utf8-ok" },
    });
    expect(ok.status).toBe(201);
    expect(ok.body.name).toBe("Zoë 🎁");
  });

  it("refuses a CSV upload that is not valid UTF-8 as a whole (invalid_csv)", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const csv = new Uint8Array([
      ...new TextEncoder().encode("email,country,amount\na@example.com,US,2500\nb"),
      0xc3,
      0x28,
      ...new TextEncoder().encode("@example.com,US,2500\n"),
    ]);
    const res = await callJson(`/v1/batches/${batchId}/recipients`, {
      token: tokens.operator,
      method: "POST",
      rawBody: csv,
      headers: { "content-type": "text/csv" },
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "invalid_csv", detail: expect.stringMatching(/UTF-8/) });
    const b = await callJson(`/v1/batches/${batchId}`, { token: tokens.operator });
    expect(b.body.counts.total).toBe(0);
  });
});
