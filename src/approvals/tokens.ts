/**
 * Approval-link tokens: HS256 JWTs with their own `typ` and audience, so an approval token is never
 * an API bearer token (the API verifier requires aud = JWT_AUDIENCE) and an API token is never an
 * approval link (this verifier requires aud = APPROVAL_AUDIENCE and typ = APPROVAL_TOKEN_TYPE).
 * They are signed with their own key too. Only the token's SHA-256 is stored.
 */
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from "jose";
import { AppError } from "../core/errors";
import type { Env } from "../env";

export const APPROVAL_AUDIENCE = "rewardrail-approval";
export const APPROVAL_TOKEN_TYPE = "approval+jwt";
const KEY_LABEL = "rewardrail approval links v1";

export interface ApprovalClaims {
  /** The approver. */
  sub: string;
  org: string;
  /** Batch id, step index and the batch content hash the link was issued for. */
  bat: string;
  stp: number;
  bh: string;
  /** The approval request id. */
  jti: string;
  exp: number;
}

/**
 * The second subject of approval links: one campaign's rewards pending approval on one UTC day
 * (src/campaigns/approvals.ts). Bound to the campaign, the day, the request's round, the step (its
 * index in the round's policy snapshot) and the day's content fingerprint when the link was sent.
 */
export interface CampaignDayClaims {
  sub: string;
  org: string;
  cmp: string;
  day: string;
  rnd: number;
  stp: number;
  fp: string;
  jti: string;
  exp: number;
}

export type AnyApprovalClaims = { kind: "batch"; claims: ApprovalClaims } | { kind: "campaign_day"; claims: CampaignDayClaims };

const keys = new Map<string, Promise<Uint8Array>>();

/**
 * APPROVAL_SIGNING_SECRET, else a key derived from JWT_SECRET (HMAC with a fixed label): related, never equal.
 * Approver verification links (src/approvers/verify-token.ts) share it, under their own audience and type.
 */
export function signingKey(env: Env): Promise<Uint8Array> {
  if (env.APPROVAL_SIGNING_SECRET) return Promise.resolve(new TextEncoder().encode(env.APPROVAL_SIGNING_SECRET));
  const secret = env.JWT_SECRET;
  if (!secret) throw new AppError("internal_error", "Set APPROVAL_SIGNING_SECRET (or JWT_SECRET) to sign approval links");
  let key = keys.get(secret);
  if (!key) {
    key = (async () => {
      const hmac = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      return new Uint8Array(await crypto.subtle.sign("HMAC", hmac, new TextEncoder().encode(KEY_LABEL)));
    })();
    keys.set(secret, key);
  }
  return key;
}

export async function signApprovalToken(env: Env, claims: Omit<ApprovalClaims, "exp"> | Omit<CampaignDayClaims, "exp">, expiresAt: number): Promise<string> {
  const { sub, jti, ...rest } = claims;
  return new SignJWT(rest)
    .setProtectedHeader({ alg: "HS256", typ: APPROVAL_TOKEN_TYPE })
    .setSubject(sub)
    .setJti(jti)
    .setIssuer(env.JWT_ISSUER)
    .setAudience(APPROVAL_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor(expiresAt / 1000))
    .sign(await signingKey(env));
}

async function verifyAt(env: Env, token: string, currentDate?: Date): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, await signingKey(env), {
    algorithms: ["HS256"],
    issuer: env.JWT_ISSUER,
    audience: APPROVAL_AUDIENCE,
    typ: APPROVAL_TOKEN_TYPE,
    requiredClaims: ["exp", "sub", "jti"],
    currentDate,
  });
  return payload;
}

/**
 * Verifies a link token; anything but a genuine approval token is `approval_link_invalid`. An
 * expired one is `approval_link_expired`, unless `allowExpired`: then it is checked in full as of the
 * second before it expired (signature, issuer, audience, type), so the caller can tell the approver
 * more than "expired" — that the batch was approved meanwhile, or offer a new link by email.
 */
export async function verifyApprovalToken(env: Env, token: string, opts: { allowExpired?: boolean } = {}): Promise<ApprovalClaims> {
  const verified = await verifyAnyApprovalToken(env, token, opts);
  if (verified.kind !== "batch") throw new AppError("approval_link_invalid", "This is not a valid approval link");
  return verified.claims;
}

/** Verifies a link token of either subject (a batch, or a campaign's day); the same rules as `verifyApprovalToken`. */
export async function verifyAnyApprovalToken(env: Env, token: string, opts: { allowExpired?: boolean } = {}): Promise<AnyApprovalClaims> {
  let payload: JWTPayload;
  try {
    try {
      payload = await verifyAt(env, token);
    } catch (err) {
      // jose validates claims only after the signature: an expired token's payload is genuine.
      const exp = err instanceof joseErrors.JWTExpired ? err.payload.exp : undefined;
      if (!opts.allowExpired || typeof exp !== "number") throw err;
      payload = await verifyAt(env, token, new Date((exp - 1) * 1000));
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (err instanceof joseErrors.JWTExpired) throw new AppError("approval_link_expired", "This approval link has expired; ask for a new one");
    throw new AppError("approval_link_invalid", "This is not a valid approval link");
  }
  const p = payload as JWTPayload & Partial<ApprovalClaims> & Partial<CampaignDayClaims>;
  if (typeof p.org !== "string" || !Number.isInteger(p.stp)) throw new AppError("approval_link_invalid", "This is not a valid approval link");
  if (typeof p.bat === "string" && typeof p.bh === "string" && p.cmp === undefined) {
    return { kind: "batch", claims: { sub: p.sub!, org: p.org, bat: p.bat, stp: p.stp!, bh: p.bh, jti: p.jti!, exp: p.exp! } };
  }
  if (typeof p.cmp === "string" && typeof p.day === "string" && typeof p.fp === "string" && Number.isInteger(p.rnd) && p.bat === undefined) {
    return {
      kind: "campaign_day",
      claims: { sub: p.sub!, org: p.org, cmp: p.cmp, day: p.day, rnd: p.rnd!, stp: p.stp!, fp: p.fp, jti: p.jti!, exp: p.exp! },
    };
  }
  throw new AppError("approval_link_invalid", "This is not a valid approval link");
}
