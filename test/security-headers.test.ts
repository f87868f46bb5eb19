import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { redactTokens } from "../src/core/redact";
import type { Env } from "../src/env";
import worker from "../src/index";
import { call, token } from "./helpers/api";

const sha256 = async (text: string) => btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)))));

describe("headers on every response", () => {
  it("sends Cache-Control: no-store and nosniff on answers, errors, 404s, /health and the docs", async () => {
    const t = await token();
    const cases: [string, Parameters<typeof call>[1], number][] = [
      ["/health", {}, 200],
      ["/v1/me", { token: t }, 200],
      ["/openapi.json", {}, 200],
      ["/docs", {}, 200],
      ["/v1/pools", {}, 401],
      ["/v1/pools", { token: t, body: { name: "" } }, 400],
      ["/nope", {}, 404],
      ["/health", { method: "DELETE" }, 405],
      ["/approve/not-a-token", {}, 404],
      ["/claim/not-a-token", {}, 404],
    ];
    for (const [path, opts, status] of cases) {
      const res = await call(path, opts);
      expect(res.status, path).toBe(status);
      expect(res.headers.get("cache-control"), path).toBe("no-store");
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
      expect(res.headers.get("content-security-policy"), path).toMatch(/frame-ancestors 'none'/);
    }
  });

  it("gives JSON answers a policy that allows nothing", async () => {
    const res = await call("/health");
    expect(res.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
  });

  it("keeps the approval and claim pages out of frames", async () => {
    for (const path of ["/approve/not-a-token", "/claim/not-a-token"]) {
      const res = await call(path);
      expect(res.headers.get("content-type"), path).toMatch(/^text\/html/);
      expect(res.headers.get("content-security-policy"), path).toMatch(/frame-ancestors 'none'/);
      expect(res.headers.get("x-frame-options"), path).toBe("DENY");
    }
  });

  it("lets /docs load Scalar from its CDN and run only its own inline script, never framed", async () => {
    const res = await call("/docs");
    const csp = res.headers.get("content-security-policy")!;
    const html = await res.text();
    const directive = (name: string) =>
      csp
        .split(";")
        .map((d) => d.trim())
        .find((d) => d.startsWith(`${name} `)) ?? "";
    expect(directive("frame-ancestors")).toBe("frame-ancestors 'none'");
    expect(directive("default-src")).toBe("default-src 'none'");
    expect(directive("connect-src")).toBe("connect-src 'self'");
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(1);
    for (const [, attrs, body] of scripts) {
      const src = /\bsrc="([^"]+)"/.exec(attrs!)?.[1];
      if (src) expect(directive("script-src")).toContain(new URL(src).origin);
      else expect(directive("script-src")).toContain(`'sha256-${await sha256(body!)}'`);
    }
    expect(directive("script-src")).not.toContain("'unsafe-inline'");
  });
});

describe("logs", () => {
  afterEach(() => vi.restoreAllMocks());

  it("masks approval, verification and claim tokens and JWTs in what it logs", () => {
    const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl";
    expect(redactTokens("/approve/abc.def-123/renew")).toBe("/approve/[token]/renew");
    expect(redactTokens("/verify/tok_123")).toBe("/verify/[token]");
    expect(redactTokens("fetch https://rewards.example.com/claim/xyz?utm=1 failed")).toBe("fetch https://rewards.example.com/claim/[token]?utm=1 failed");
    expect(redactTokens(`Error: bad token ${jwt}`)).toBe("Error: bad token [jwt]");
  });

  it("writes request lines without the link token outside tests", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(line));
    const e = { ...env, ENVIRONMENT: "development" } as Env;
    const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
    for (const path of ["/approve/SECRET-approve-token", "/verify/SECRET-verify-token", "/claim/SECRET-claim-token/x"]) {
      await worker.fetch(new Request(`http://x${path}`), e, ctx);
    }
    expect(lines.length).toBe(3);
    expect(lines.join("\n")).not.toContain("SECRET");
    expect(lines.map((l) => JSON.parse(l).path)).toEqual(["/approve/[token]", "/verify/[token]", "/claim/[token]/x"]);
  });
});
