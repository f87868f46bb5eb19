/**
 * Claim links for the `link` channel: a signed URL whose page shows the recipient their code.
 * Tokens are JWTs with their own audience (never accepted as API tokens), signed with a key
 * derived from CODE_ENCRYPTION_KEY, so they work whether API tokens use HS256 or a JWKS.
 */
import { jwtVerify, SignJWT } from "jose";
import { publicOrigin } from "../approvals/config";
import type { Env } from "../env";

const AUDIENCE = "rewardrail-claim";
const keys = new Map<string, Promise<Uint8Array>>();

function signingKey(env: Env): Promise<Uint8Array> {
  const secret = env.CODE_ENCRYPTION_KEY ?? "";
  let key = keys.get(secret);
  if (!key) {
    key = (async () => {
      const master = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), "HKDF", false, ["deriveBits"]);
      const bits = await crypto.subtle.deriveBits(
        { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: new TextEncoder().encode("rewardrail/claim-links") },
        master,
        256,
      );
      return new Uint8Array(bits);
    })();
    keys.set(secret, key);
  }
  return key;
}

export async function claimUrl(env: Env, org: string, deliveryId: string, expiresAt?: string | null): Promise<string> {
  const exp = expiresAt ? Math.floor(Date.parse(expiresAt) / 1000) : Math.floor(Date.now() / 1000) + 365 * 86_400;
  const token = await new SignJWT({ org })
    .setProtectedHeader({ alg: "HS256", typ: "claim+jwt" })
    .setSubject(deliveryId)
    .setAudience(AUDIENCE)
    .setIssuer(env.JWT_ISSUER)
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(await signingKey(env));
  // Claim links are made by queue consumers, with no request to take an origin from: PUBLIC_BASE_URL
  // (which `npm run dev` sets to its own port) or the default local one.
  return `${publicOrigin(env)}/claim/${token}`;
}

export async function verifyClaimToken(env: Env, token: string): Promise<{ org: string; deliveryId: string } | null> {
  try {
    const { payload } = await jwtVerify(token, await signingKey(env), { audience: AUDIENCE, issuer: env.JWT_ISSUER, algorithms: ["HS256"], typ: "claim+jwt" });
    if (typeof payload.org !== "string" || !payload.sub) return null;
    return { org: payload.org, deliveryId: payload.sub };
  } catch {
    return null;
  }
}
