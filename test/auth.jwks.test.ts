import { env } from "cloudflare:workers";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import type { Env } from "../src/env";
import { interceptOutbound } from "./helpers/msw";

const server = interceptOutbound();
const JWKS_URL = "https://idp.example.com/.well-known/jwks.json";

async function meWith(e: Env, token: string) {
  const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
  return worker.fetch(new Request("http://x/v1/me", { headers: { authorization: `Bearer ${token}` } }), e, ctx);
}

describe("production tokens from a JWKS", () => {
  it("accepts RS256 and ES256 tokens whose key is in JWKS_URL, and refuses HS256 then", async () => {
    const rsa = await generateKeyPair("RS256");
    const ec = await generateKeyPair("ES256");
    const keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256" },
      { ...(await exportJWK(ec.publicKey)), kid: "ec-1", alg: "ES256" },
    ];
    server.use(http.get(JWKS_URL, () => HttpResponse.json({ keys })));
    const e = { ...env, JWT_JWKS_URL: JWKS_URL } as Env;
    const sign = (alg: string, kid: string, key: CryptoKey | Uint8Array) =>
      new SignJWT({ org: "acme", roles: ["auditor"] })
        .setProtectedHeader({ alg, kid })
        .setSubject("svc")
        .setIssuer(env.JWT_ISSUER)
        .setIssuedAt()
        .setAudience(env.JWT_AUDIENCE)
        .setExpirationTime("5m")
        .sign(key);

    const rs = await meWith(e, await sign("RS256", "rsa-1", rsa.privateKey));
    expect(rs.status).toBe(200);
    expect(await rs.json()).toEqual({ sub: "svc", org: "acme", roles: ["auditor"] });
    expect((await meWith(e, await sign("ES256", "ec-1", ec.privateKey))).status).toBe(200);
    // With a JWKS configured, a token signed with the shared HS256 secret is not accepted.
    expect((await meWith(e, await sign("HS256", "rsa-1", new TextEncoder().encode(env.JWT_SECRET)))).status).toBe(401);
    // A key that is not in the set.
    const other = await generateKeyPair("RS256");
    expect((await meWith(e, await sign("RS256", "rsa-1", other.privateKey))).status).toBe(401);
  });
});
