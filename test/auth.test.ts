import { env } from "cloudflare:workers";
import { SignJWT, UnsecuredJWT } from "jose";
import { describe, expect, it } from "vitest";
import { call, callJson, token, uniqueOrg } from "./helpers/api";

async function expect401(authorization: string | undefined) {
  const res = await call("/v1/me", { headers: authorization === undefined ? {} : { authorization } });
  expect(res.status).toBe(401);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const body = await res.json<any>();
  expect(body.code).toBe("unauthorized");
  return body;
}

describe("bearer authentication", () => {
  it("refuses a request with no Authorization header", async () => {
    await expect401(undefined);
  });

  it("refuses a malformed Authorization header", async () => {
    await expect401("Token abc");
    await expect401("Bearer");
    await expect401("Bearer not-a-jwt");
  });

  it("refuses a token whose signature was tampered with", async () => {
    const t = await token();
    const [h, p, s] = t.split(".");
    await expect401(`Bearer ${h}.${p}.${s!.slice(0, -4)}AAAA`);
  });

  it("refuses alg: none", async () => {
    const unsigned = new UnsecuredJWT({ org: "acme", roles: ["admin"] })
      .setSubject("alice")
      .setIssuer(env.JWT_ISSUER)
      .setAudience(env.JWT_AUDIENCE)
      .setExpirationTime("1h")
      .encode();
    await expect401(`Bearer ${unsigned}`);
  });

  it("refuses an HS256 token signed with another secret", async () => {
    await expect401(`Bearer ${await token({ secret: "some-other-secret-that-is-also-long-enough" })}`);
  });

  it("refuses an expired token", async () => {
    const body = await expect401(`Bearer ${await token({ ttlSeconds: -60 })}`);
    expect(body.detail).toMatch(/expired/);
  });

  it("refuses a token not valid before a future time", async () => {
    await expect401(`Bearer ${await token({ notBefore: Math.floor(Date.now() / 1000) + 600 })}`);
  });

  it("refuses a token that lives longer than JWT_MAX_TTL_SECONDS (a day by default), and accepts one of a day", async () => {
    const long = await expect401(`Bearer ${await token({ ttlSeconds: 2 * 86_400 })}`);
    expect(long.detail).toMatch(/longer than 86400 seconds/);
    // Still valid now, but issued long ago for a long life: the lifetime counts, not what is left.
    const now = Math.floor(Date.now() / 1000);
    await expect401(`Bearer ${await token({ issuedAt: now - 86_400, ttlSeconds: 600 })}`);
    const day = await call("/v1/me", { token: await token({ ttlSeconds: 86_400 }) });
    expect(day.status).toBe(200);
  });

  it("refuses a token without iat or issued more than a minute in the future", async () => {
    const now = Math.floor(Date.now() / 1000);
    await expect401(`Bearer ${await token({ omit: ["iat"] })}`);
    const ahead = await expect401(`Bearer ${await token({ issuedAt: now + 600 })}`);
    expect(ahead.detail).toMatch(/iat/);
    const skewed = await call("/v1/me", { token: await token({ issuedAt: now + 30 }) });
    expect(skewed.status).toBe(200);
  });

  it("refuses the wrong issuer and the wrong audience", async () => {
    await expect401(`Bearer ${await token({ issuer: "someone-else" })}`);
    await expect401(`Bearer ${await token({ audience: "another-api" })}`);
  });

  it("refuses tokens missing org, exp, sub or roles", async () => {
    await expect401(`Bearer ${await token({ omit: ["org"] })}`);
    await expect401(`Bearer ${await token({ omit: ["exp"] })}`);
    await expect401(`Bearer ${await token({ omit: ["sub"] })}`);
    await expect401(`Bearer ${await token({ omit: ["roles"] })}`);
  });

  it("refuses an RS-style header on an HS256 deployment (algorithms pinned)", async () => {
    const t = await new SignJWT({ org: "acme", roles: ["admin"] })
      .setProtectedHeader({ alg: "HS512" })
      .setSubject("alice")
      .setIssuer(env.JWT_ISSUER)
      .setAudience(env.JWT_AUDIENCE)
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(env.JWT_SECRET));
    await expect401(`Bearer ${t}`);
  });

  it("accepts a valid token, whatever the case of the scheme and the spaces after it", async () => {
    const res = await call("/v1/me", { token: await token() });
    expect(res.status).toBe(200);
    for (const scheme of ["bearer ", "BEARER ", "Bearer  "]) {
      expect((await call("/v1/me", { headers: { authorization: `${scheme}${await token()}` } })).status, scheme).toBe(200);
    }
  });

  it("lets a token with none of the org roles read /v1/me only: every 'any org role' route answers 403", async () => {
    const org = uniqueOrg();
    for (const roles of [[], ["guest"]]) {
      const t = await token({ org, roles: roles as never });
      const me = await callJson("/v1/me", { token: t });
      expect(me.status).toBe(200);
      expect(me.body.roles).toEqual([]);
      for (const path of ["/v1/settings", "/v1/pools", "/v1/products", "/v1/batches/bat_x/recipients", "/v1/batches/bat_x/preview"]) {
        const res = await callJson(path, { token: t });
        expect(res.status, path).toBe(403);
        expect(res.body.code).toBe("forbidden");
      }
    }
    const member = await callJson("/v1/settings", { token: await token({ org, roles: ["support"] }) });
    expect(member.status).toBe(200);
  });
});
