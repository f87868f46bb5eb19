import { createMiddleware } from "hono/factory";
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import { AppError } from "../core/errors";
import { ROLES, type AppEnv, type Auth, type Env, type Role } from "../env";
import { idempotency } from "./idempotency";

const HS_ALGS = ["HS256"];
const ASYMMETRIC_ALGS = ["RS256", "ES256"];
const jwksCache = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
/**
 * JWT_SECRET imported once as an HMAC key: jose imports a raw secret with `crypto.subtle.importKey`
 * on every verification otherwise. Keyed by the secret, so a rotated one is imported anew.
 */
const hsKeys = new Map<string, Promise<CryptoKey>>();
function hsKey(secret: string): Promise<CryptoKey> {
  let key = hsKeys.get(secret);
  if (!key) {
    if (hsKeys.size >= 4) hsKeys.clear();
    key = crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    hsKeys.set(secret, key);
  }
  return key;
}

/** The API bearer token's `typ`; approval links use their own type and audience and never pass here. */
export const API_TOKEN_TYPE = "JWT";
/** Longest lifetime (exp − iat) a token may have unless JWT_MAX_TTL_SECONDS says otherwise: one day. */
export const DEFAULT_JWT_MAX_TTL_SECONDS = 86_400;
/** How far in the future `iat` may lie (clocks of issuers drift). */
const IAT_SKEW_SECONDS = 60;

export const maxTokenLifetime = (env: Env) => {
  const n = Number(env.JWT_MAX_TTL_SECONDS);
  return env.JWT_MAX_TTL_SECONDS && Number.isFinite(n) && n > 0 ? n : DEFAULT_JWT_MAX_TTL_SECONDS;
};

/**
 * Verifies a bearer JWT with pinned algorithms: HS256 with JWT_SECRET locally, RS256/ES256 from
 * JWT_JWKS_URL when that is set. `iss`, `aud`, `exp`, `iat`, `sub`, `org` and `roles` are all required.
 * A leaked token must not work for long: one whose lifetime (exp − iat) passes JWT_MAX_TTL_SECONDS
 * (default one day), or whose `iat` lies more than a minute ahead, is refused.
 */
export async function verifyApiToken(env: Env, token: string): Promise<Auth> {
  let payload: JWTPayload;
  try {
    const opts = {
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      requiredClaims: ["exp", "iat", "sub", "iss", "aud"],
      clockTolerance: 5,
    };
    if (env.JWT_JWKS_URL) {
      let jwks = jwksCache.get(env.JWT_JWKS_URL);
      if (!jwks) {
        jwks = createRemoteJWKSet(new URL(env.JWT_JWKS_URL));
        jwksCache.set(env.JWT_JWKS_URL, jwks);
      }
      ({ payload } = await jwtVerify(token, jwks, { ...opts, algorithms: ASYMMETRIC_ALGS }));
    } else {
      if (!env.JWT_SECRET) throw new AppError("internal_error", "JWT_SECRET is not configured");
      ({ payload } = await jwtVerify(token, await hsKey(env.JWT_SECRET), { ...opts, algorithms: HS_ALGS }));
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError("unauthorized", describeJoseError(err));
  }
  checkLifetime(env, payload);
  const { sub, org, roles } = payload as JWTPayload & { org?: unknown; roles?: unknown };
  if (typeof sub !== "string" || sub.length === 0) throw new AppError("unauthorized", "The token has no sub claim");
  if (typeof org !== "string" || org.length === 0 || org.length > 64) throw new AppError("unauthorized", "The token has no valid org claim");
  if (!Array.isArray(roles) || !roles.every((r) => typeof r === "string")) {
    throw new AppError("unauthorized", "The token has no roles claim (an array of strings)");
  }
  return { sub, org, roles: roles.filter((r): r is Role => (ROLES as readonly string[]).includes(r)) };
}

/** jose has checked that exp and iat are numbers and that exp has not passed. */
function checkLifetime(env: Env, { exp, iat }: JWTPayload) {
  const now = Math.floor(Date.now() / 1000);
  if (iat! > now + IAT_SKEW_SECONDS) throw new AppError("unauthorized", "The token's iat claim lies in the future");
  const max = maxTokenLifetime(env);
  if (exp! - iat! > max) throw new AppError("unauthorized", `The token lives longer than ${max} seconds (exp - iat); ask for a shorter-lived one`);
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return "The token has expired";
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `The token's ${err.claim} claim is not valid (${err.reason})`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return "The token's algorithm is not allowed";
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return "The token's signature is not valid";
  return "The token is not a valid JWT";
}

/** Authenticates every request it guards and exposes the caller as `c.var.auth`. */
export const authenticate = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header("authorization");
  if (!header) throw new AppError("unauthorized", "Send Authorization: Bearer <token>");
  // The scheme is case-insensitive (RFC 9110 §11.1), and any run of spaces may follow it.
  const match = /^Bearer +([A-Za-z0-9_\-.=]+)$/i.exec(header.trim());
  if (!match?.[1]) throw new AppError("unauthorized", "The Authorization header must be 'Bearer <token>'");
  c.set("auth", await verifyApiToken(c.env, match[1]));
  await next();
});

/**
 * Who may call a route: listed roles, `"any"` (any of the org roles: a token holding none of them,
 * e.g. `roles: []`, gets 403), or `"token"` (any valid token, for `GET /v1/me` only).
 */
export type Access = readonly Role[] | "any" | "token";

/** Lets the request through when the caller may call the route (see `Access`). */
export function requireRoles(access: Access) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const auth = c.var.auth;
    if (!auth) throw new AppError("unauthorized", "Send Authorization: Bearer <token>");
    const allowed = access === "token" || access === "any" ? ROLES : access;
    if (access !== "token" && !auth.roles.some((r) => allowed.includes(r))) {
      throw new AppError(
        "forbidden",
        access === "any" ? `This needs one of the org roles: ${ROLES.join(", ")}` : `This action needs one of the roles: ${allowed.join(", ")}`,
      );
    }
    await next();
  });
}

/**
 * The OpenAPI fields and middleware of a protected route, to spread into `createRoute`: the role
 * check, then Idempotency-Key handling (for POSTs), so that a replay is only ever given to a caller
 * who may make the request.
 */
export function protect(access: Access) {
  return {
    security: [{ bearerAuth: [] }],
    middleware: [requireRoles(access), idempotency],
    "x-roles": access === "token" ? ["any valid token"] : access === "any" ? [...ROLES] : [...access],
  };
}
