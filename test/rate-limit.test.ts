import { describe, expect, it } from "vitest";
import { call, token, uniqueOrg } from "./helpers/api";

/** A client address of its own per test, so that no other test's requests count against it. */
const randomIp = () => `10.${[0, 0, 0].map(() => Math.floor(Math.random() * 256)).join(".")}`;
const randomV6Prefix = () => `2001:db8:${[0, 0].map(() => Math.floor(Math.random() * 0xffff).toString(16)).join(":")}`;

/** Sends `n` requests, 50 at a time; returns the responses in order. */
async function burst(n: number, send: (i: number) => Promise<Response>): Promise<Response[]> {
  const out: Response[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, k) => send(i + k)));
    out.push(...batch);
  }
  return out;
}

// The limiter counts per window of 60 s: 250 requests put more than 100 in one window even when a
// burst straddles two.
const GUESSES = 250;

async function expectRateLimited(res: Response, policy: string) {
  expect(res.status).toBe(429);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect(res.headers.get("retry-after")).toBe("60");
  expect(res.headers.get("ratelimit-policy")).toBe(`"${policy}";q=100;w=60`);
  expect(res.headers.get("ratelimit")).toBe(`"${policy}";r=0;t=60`);
  expect(res.headers.get("cache-control")).toBe("no-store");
  const body = await res.json<any>();
  expect(body).toMatchObject({ status: 429, code: "rate_limited" });
}

describe("rate limits", () => {
  it("meets a burst of guesses at approval, verification and claim links with 429 per client IP", async () => {
    for (const page of ["/approve", "/verify", "/claim"]) {
      const ip = randomIp();
      const res = await burst(GUESSES, (i) => call(`${page}/guess-${i}`, { headers: { "cf-connecting-ip": ip } }));
      const limited = res.filter((r) => r.status === 429);
      expect(limited.length, page).toBeGreaterThanOrEqual(GUESSES - 2 * 100);
      expect(
        res.filter((r) => r.status !== 429).every((r) => r.status === 404),
        page,
      ).toBe(true);
      await expectRateLimited(limited[0]!, "client");
      // Another client is not held back by this one.
      expect((await call(`${page}/guess-x`, { headers: { "cf-connecting-ip": randomIp() } })).status, page).toBe(404);
    }
  });

  it("counts an IPv6 client by its /64", async () => {
    const prefix = randomV6Prefix();
    await burst(GUESSES, (i) => call(`/approve/guess-${i}`, { headers: { "cf-connecting-ip": `${prefix}::${(i % 50).toString(16)}` } }));
    const sameHost = await call("/approve/guess-y", { headers: { "cf-connecting-ip": `${prefix}:ffff:0:0:1` } });
    await expectRateLimited(sameHost, "client");
  });

  it("answers a burst of failed authentications with 429, without WWW-Authenticate", async () => {
    const ip = randomIp();
    const bad = await token({ secret: "not-the-secret-but-long-enough-for-hs256-0123456789" });
    const res = await burst(GUESSES, (i) => call("/v1/me", { headers: { "cf-connecting-ip": ip, authorization: i % 2 ? `Bearer ${bad}` : "Bearer nope" } }));
    const limited = res.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(GUESSES - 2 * 100);
    expect(res.filter((r) => r.status !== 429).every((r) => r.status === 401)).toBe(true);
    await expectRateLimited(limited[0]!, "client");
    expect(limited[0]!.headers.get("www-authenticate")).toBeNull();
    // A valid token from the same address still works: only failures count against it.
    expect((await call("/v1/me", { token: await token(), headers: { "cf-connecting-ip": ip } })).status).toBe(200);
  });

  it("lets a normal caller through: hundreds of API calls from one address and one sub", async () => {
    const ip = randomIp();
    const t = await token({ org: uniqueOrg(), sub: "busy", roles: ["admin"] });
    const res = await burst(300, (i) => call(i % 3 ? "/v1/me" : "/v1/pools", { token: t, headers: { "cf-connecting-ip": ip } }));
    expect(res.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
  });

  it("documents the 429 with its headers on every limited route of the OpenAPI document", async () => {
    const doc = await (await call("/openapi.json")).json<any>();
    for (const [path, ops] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        const limited = /^\/(v1|approve|verify|claim)\//.test(path);
        if (!limited) continue;
        expect(Object.keys(op.responses["429"]?.headers ?? {}), `${method} ${path}`).toEqual(["Retry-After", "RateLimit-Policy", "RateLimit"]);
      }
    }
    expect(doc.paths["/health"].get.responses["429"]).toBeUndefined();
  });
});

describe("rate-limit policies", () => {
  it("describe exactly the [[ratelimits]] bindings of wrangler.toml", async () => {
    const { default: toml } = await import("../wrangler.toml?raw");
    const { CALLER_POLICY, CLIENT_POLICY } = await import("../src/middleware/rate-limit");
    const declared = (name: string) => {
      const block = new RegExp(`name = "${name}"[^\\[]*?simple = \\{ limit = (\\d+), period = (\\d+) \\}`).exec(toml);
      return block ? { limit: Number(block[1]), period: Number(block[2]) } : null;
    };
    expect(declared("CALLER_RATE_LIMITER")).toEqual({ limit: CALLER_POLICY.limit, period: CALLER_POLICY.period });
    expect(declared("CLIENT_RATE_LIMITER")).toEqual({ limit: CLIENT_POLICY.limit, period: CLIENT_POLICY.period });
  });
});
