// The upload's aggregates: the Misra–Gries summaries of email domains and phone blocks must keep
// their bound (never above the true count, never below it by more than rows/(k+1)) on any stream,
// and merging uploads must add up the exact parts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mergeStats, StatsBuilder } from "../src/batches/upload-stats";
import type { CheckedRecipient } from "../src/batches/recipients.validate";

const K = 100;

function recipient(domain: string, amount = 1000): CheckedRecipient {
  return {
    externalId: null,
    name: null,
    email: `a@${domain}`,
    phone: null,
    country: "US",
    amount,
    amountRaw: null,
    currency: "USD",
    fields: null,
    emailKey: `a@${domain}`,
    phoneKey: null,
    status: "valid",
    reasons: [],
  };
}

function exactCounts(domains: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const d of domains) counts.set(d, (counts.get(d) ?? 0) + 1);
  return counts;
}

function expectWithinBound(summary: [string, number][], domains: string[]) {
  const estimate = new Map(summary);
  const slack = domains.length / (K + 1);
  for (const [domain, truth] of exactCounts(domains)) {
    const est = estimate.get(domain) ?? 0;
    expect(est).toBeLessThanOrEqual(truth);
    expect(truth - est).toBeLessThanOrEqual(slack);
  }
}

describe("upload stats", () => {
  it("keeps a domain with a fifth of the rows among thousands of one-off domains", () => {
    const domains: string[] = [];
    for (let i = 0; i < 20_000; i++) domains.push(i % 5 === 0 ? "big.example" : `d${i}.example`);
    const stats = new StatsBuilder();
    for (const d of domains) stats.add(recipient(d));
    const built = stats.build();
    expect(built.emails).toBe(20_000);
    expect(built.domains.length).toBeLessThanOrEqual(4 * K);
    expectWithinBound(built.domains, domains);
    expect(new Map(built.domains).get("big.example")).toBeGreaterThan(4_000 - 20_000 / (K + 1));
  });

  it("counts exactly while there are at most 4k distinct domains", () => {
    const domains = Array.from({ length: 12_000 }, (_, i) => `d${(i * 7) % (4 * K)}.example`);
    const stats = new StatsBuilder();
    for (const d of domains) stats.add(recipient(d));
    expect(new Map(stats.build().domains)).toEqual(exactCounts(domains));
  });

  it("never over-counts and under-counts by at most rows/(k+1), on random skewed streams", () => {
    const stream = fc.array(fc.oneof({ weight: 1, arbitrary: fc.integer({ min: 0, max: 5 }) }, { weight: 3, arbitrary: fc.integer({ min: 6, max: 5_000 }) }), {
      minLength: 1,
      maxLength: 6_000,
    });
    fc.assert(
      fc.property(stream, (ids) => {
        const domains = ids.map((i) => `d${i}.example`);
        const stats = new StatsBuilder();
        for (const d of domains) stats.add(recipient(d));
        expectWithinBound(stats.build().domains, domains);
      }),
      { seed: 20261123, numRuns: 40 },
    );
  });

  it("counts valid emails with a dot before the @, and merges that count only when every upload has it", () => {
    const a = new StatsBuilder();
    for (const email of ["ann.lee@x.example", "annlee@x.example", "bob@mail.x.example"]) a.add({ ...recipient("x.example"), email, emailKey: email });
    a.add({ ...recipient("x.example"), email: "c.d@x.example", emailKey: null, status: "invalid", reasons: ["email_invalid"] });
    const built = a.build();
    expect(built.dotted).toBe(1);
    expect(mergeStats([built, built]).dotted).toBe(2);
    const legacy = { ...built, dotted: undefined };
    expect(mergeStats([built, legacy]).dotted).toBeUndefined();
  });

  it("merges uploads into exact totals and amount histograms", () => {
    const a = new StatsBuilder();
    const b = new StatsBuilder();
    a.add(recipient("x.example", 500));
    a.add({ ...recipient("x.example", 700), status: "invalid", reasons: ["country_invalid"] });
    b.add(recipient("y.example", 500));
    const merged = mergeStats([a.build(), b.build()]);
    expect(merged.currencies.USD).toEqual({ rows: 3, valid_count: 2, valid_amount: 1000, requested_amount: 1700 });
    expect(merged.amounts).toEqual([[500, 2]]);
    expect(merged.reasons).toEqual({ "invalid:country_invalid": 1 });
    expect(new Map(merged.domains)).toEqual(
      new Map([
        ["x.example", 1],
        ["y.example", 1],
      ]),
    );
  });
});
