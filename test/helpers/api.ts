import { exports, env } from "cloudflare:workers";
import { SignJWT } from "jose";
import type { Role } from "../../src/env";

export interface TokenOptions {
  org?: string;
  sub?: string;
  roles?: Role[] | string[];
  ttlSeconds?: number;
  secret?: string;
  issuer?: string;
  audience?: string;
  omit?: ("org" | "exp" | "iat" | "sub" | "roles" | "iss" | "aud")[];
  notBefore?: number;
  /** `iat` in epoch seconds (default now); `exp` stays now + ttlSeconds. */
  issuedAt?: number;
}

/** Signs a dev token the way `npm run token` does, with knobs for the auth tests. */
export async function token(opts: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { org: opts.org ?? "acme", roles: opts.roles ?? ["admin"] };
  const omit = new Set(opts.omit ?? []);
  for (const k of omit) delete claims[k];
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" });
  if (!omit.has("iat")) jwt = jwt.setIssuedAt(opts.issuedAt ?? now);
  if (!omit.has("sub")) jwt = jwt.setSubject(opts.sub ?? "alice");
  if (!omit.has("iss")) jwt = jwt.setIssuer(opts.issuer ?? env.JWT_ISSUER);
  if (!omit.has("aud")) jwt = jwt.setAudience(opts.audience ?? env.JWT_AUDIENCE);
  if (!omit.has("exp")) jwt = jwt.setExpirationTime(now + (opts.ttlSeconds ?? 3600));
  if (opts.notBefore !== undefined) jwt = jwt.setNotBefore(opts.notBefore);
  return jwt.sign(new TextEncoder().encode(opts.secret ?? env.JWT_SECRET));
}

export interface CallOptions {
  method?: string;
  token?: string | null;
  body?: unknown;
  rawBody?: BodyInit;
  headers?: Record<string, string>;
}

/** A random address from 198.18.0.0/15, the block set aside for benchmarking networks (RFC 2544). */
const testClientIp = () => `198.${18 + Math.floor(Math.random() * 2)}.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`;

/** Calls the Worker's fetch handler exactly as an HTTP client would. */
export async function call(path: string, opts: CallOptions = {}): Promise<Response> {
  const headers = new Headers(opts.headers);
  // Each request comes from an address of its own unless the test picks one, so the per-IP limits
  // (link pages, failed authentication: src/middleware/rate-limit.ts) never add up across tests.
  if (!headers.has("cf-connecting-ip")) headers.set("cf-connecting-ip", testClientIp());
  if (opts.token) headers.set("authorization", `Bearer ${opts.token}`);
  let body: BodyInit | undefined = opts.rawBody;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  return exports.default.fetch(new Request(`http://rewardrail.test${path}`, { method: opts.method ?? (body ? "POST" : "GET"), headers, body }));
}

/** Calls and parses the JSON (or problem+json) body. */
export async function callJson<T = any>(path: string, opts: CallOptions = {}): Promise<{ status: number; body: T; res: Response }> {
  const res = await call(path, opts);
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, res };
}

/** A fresh org name per test, since storage is shared within a test file. */
export function uniqueOrg(prefix = "org"): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}
