/// <reference types="vite/client" />
/**
 * Every state and every money key has one owner (issue #19): a pool's Durable Object is reached
 * only from src/pools/, its operation ids are built only in src/pools/op-ids.ts, and a delivery's
 * status and committed flag are written only in src/delivery/delivery-state.ts. A new file that
 * reaches around them fails here, before it spreads.
 */
import { describe, expect, it } from "vitest";

const sources = import.meta.glob("../src/**/*.{ts,tsx}", { query: "?raw", import: "default", eager: true }) as Record<string, string>;
const files = Object.entries(sources).map(([path, text]) => ({ path: path.replace("../", ""), text }));

/** Benchmark-only code (built into the bench's own Worker entry, never the deployed one) may drive a pool directly. */
const BENCH_ONLY = /^src\/dev\//;

function offenders(pattern: RegExp, allowed: (path: string) => boolean): string[] {
  return files.filter((f) => !allowed(f.path) && pattern.test(f.text)).map((f) => f.path);
}

describe("one owner for every state and money key", () => {
  it("reads the source tree", () => {
    expect(files.length).toBeGreaterThan(100);
    expect(files.some((f) => f.path === "src/pools/pool-client.ts")).toBe(true);
  });

  it("reaches a pool's Durable Object only from src/pools/", () => {
    const found = offenders(/poolStub\(|FUNDING_POOL\.(get|idFromName)/, (p) => p.startsWith("src/pools/") || BENCH_ONLY.test(p));
    expect(found).toEqual([]);
  });

  it("builds pool operation ids only in src/pools/op-ids.ts", () => {
    // An operation id written as a template literal (`opId: \`refund:${…}\``) anywhere else is a second owner of a money key.
    const found = offenders(/\bopId:\s*`/, (p) => p === "src/pools/op-ids.ts" || BENCH_ONLY.test(p));
    expect(found).toEqual([]);
  });

  it("writes deliveries.status and deliveries.committed only in src/delivery/delivery-state.ts", () => {
    const found = offenders(/UPDATE deliveries SET[^"`]*?\b(status|committed)\s*=/, (p) => p === "src/delivery/delivery-state.ts");
    expect(found).toEqual([]);
  });
});
