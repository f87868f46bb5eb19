/**
 * Approver verification-link tokens: HS256 JWTs signed with the approval-link key
 * (src/approvals/tokens.ts) under their own audience and `typ`, so a verification link is never an
 * approval link or an API token, nor the other way round. Only the token's SHA-256 is stored.
 */
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { signingKey } from "../approvals/tokens";
import { AppError } from "../core/errors";
import type { Env } from "../env";

export const VERIFY_AUDIENCE = "rewardrail-approver-verify";
export const VERIFY_TOKEN_TYPE = "approver-verify+jwt";

export interface VerifyClaims {
  /** The enrolling person. */
  sub: string;
  org: string;
  /** The enrolment id. */
  jti: string;
}

export async function signVerifyToken(env: Env, claims: VerifyClaims, expiresAt: number): Promise<string> {
  return new SignJWT({ org: claims.org })
    .setProtectedHeader({ alg: "HS256", typ: VERIFY_TOKEN_TYPE })
    .setSubject(claims.sub)
    .setJti(claims.jti)
    .setIssuer(env.JWT_ISSUER)
    .setAudience(VERIFY_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor(expiresAt / 1000))
    .sign(await signingKey(env));
}

/** Anything but a genuine, unexpired verification token is refused. */
export async function verifyVerifyToken(env: Env, token: string): Promise<VerifyClaims> {
  try {
    const { payload } = await jwtVerify(token, await signingKey(env), {
      algorithms: ["HS256"],
      issuer: env.JWT_ISSUER,
      audience: VERIFY_AUDIENCE,
      typ: VERIFY_TOKEN_TYPE,
      requiredClaims: ["exp", "sub", "jti"],
    });
    if (typeof payload.org !== "string") throw new AppError("verification_link_invalid", "This is not a valid verification link.");
    return { sub: payload.sub!, org: payload.org, jti: payload.jti! };
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (err instanceof joseErrors.JWTExpired)
      throw new AppError("verification_link_expired", "This verification link has expired. Enrol again to get a new one.");
    throw new AppError("verification_link_invalid", "This is not a valid verification link.");
  }
}
