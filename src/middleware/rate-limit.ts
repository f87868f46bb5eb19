/**
 * Rate limits, counted by the Workers Rate Limiting binding (wrangler.toml `[[ratelimits]]`):
 * - per caller (org + token `sub`) on `/v1/*`: CALLER_RATE_LIMITER, 6,000 requests per 60 s, far
 *   above what the README walk-through or the benchmarks need (100,000 rows travel in a few calls);
 * - per client IP (`CF-Connecting-IP`; without it, locally, every request is the one client "local")
 *   on the link pages `/approve/*`, `/verify/*` and `/claim/*`, and separately on failed
 *   authentication (401s): CLIENT_RATE_LIMITER, 100 per 60 s, so a burst of guesses meets 429s.
 * A refusal is 429 problem+json `rate_limited` with Retry-After and the RateLimit-Policy / RateLimit
 * fields of draft-ietf-httpapi-ratelimit-headers. `RATE_LIMITS=off` turns counting off (the
 * benchmarks push thousands of requests a second through one caller).
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { AppError, problemResponse } from "../core/errors";
import type { AppEnv, Env } from "../env";

export interface RateLimitPolicy {
  /** The policy's name in the RateLimit-Policy and RateLimit fields. */
  name: string;
  /** Requests per window and the window in seconds: the binding's `simple` config in wrangler.toml. */
  limit: number;
  period: 10 | 60;
}

// The [[ratelimits]] of wrangler.toml count, these describe them; test/rate-limit.test.ts holds the two equal.
export const CALLER_POLICY: RateLimitPolicy = { name: "caller", limit: 6000, period: 60 };
export const CLIENT_POLICY: RateLimitPolicy = { name: "client", limit: 100, period: 60 };

/** The headers of a refusal. The binding says neither what is left nor when its window turns, so both say "wait a window". */
export function rateLimitHeaders(policy: RateLimitPolicy): Record<string, string> {
  return {
    "retry-after": String(policy.period),
    "ratelimit-policy": `"${policy.name}";q=${policy.limit};w=${policy.period}`,
    ratelimit: `"${policy.name}";r=0;t=${policy.period}`,
  };
}

function refusal(c: Context<AppEnv>, policy: RateLimitPolicy, what: string): Response {
  const err = new AppError("rate_limited", `More than ${policy.limit} ${what} in ${policy.period} seconds; retry after ${policy.period} seconds`);
  return problemResponse(err, c.req.path, c.var.requestId, rateLimitHeaders(policy));
}

/** Counts one request against `key`; true while under the limit. A limiter that fails lets requests through. */
async function underLimit(env: Env, limiter: RateLimit | undefined, key: string): Promise<boolean> {
  if (!limiter || env.RATE_LIMITS === "off") return true;
  try {
    return (await limiter.limit({ key })).success;
  } catch (err) {
    console.error(JSON.stringify({ rate_limit: key.split(":")[0], error: String(err) }));
    return true;
  }
}

/** The client as the limits see it: its IP, an IPv6 address by its /64 (what one host can easily hold). */
export function clientOf(c: Context<AppEnv>): string {
  const ip = c.req.header("cf-connecting-ip")?.trim();
  if (!ip) return "local";
  if (!ip.includes(":")) return ip;
  const [head = "", tail = ""] = ip.toLowerCase().split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

/** `/v1/*`, after authentication: per caller (org + sub). */
export const limitCaller = createMiddleware<AppEnv>(async (c, next) => {
  const { org, sub } = c.var.auth;
  if (!(await underLimit(c.env, c.env.CALLER_RATE_LIMITER, `caller:${org}\u001f${sub}`))) return refusal(c, CALLER_POLICY, "requests by this caller");
  await next();
});

/** The link pages (`/approve/*`, `/verify/*`, `/claim/*`): per client IP, so tokens cannot be guessed in bulk. */
export const limitLinkPages = createMiddleware<AppEnv>(async (c, next) => {
  if (!(await underLimit(c.env, c.env.CLIENT_RATE_LIMITER, `pages:${clientOf(c)}`))) return refusal(c, CLIENT_POLICY, "link page requests from this client");
  await next();
});

/**
 * Around authentication: every 401 counts against the client's IP, and past the limit the answer is
 * 429 instead. Successful requests are not counted here (the caller limit covers them).
 */
export const limitFailedAuth = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  if (c.res.status !== 401) return;
  if (await underLimit(c.env, c.env.CLIENT_RATE_LIMITER, `auth:${clientOf(c)}`)) return;
  // Unset first: assigning over a response would copy its headers (WWW-Authenticate) into this one.
  c.res = undefined;
  c.res = refusal(c, CLIENT_POLICY, "failed authentications from this client");
});
