import { describe, expect, it } from "vitest";
import { periodWindow } from "../src/events/caps";

describe("cap periods (UTC)", () => {
  it("a day runs midnight to midnight", () => {
    expect(periodWindow("day", "2026-12-07T23:59:59.999Z")).toEqual({ from: "2026-12-07T00:00:00.000Z", to: "2026-12-08T00:00:00.000Z" });
  });
  it("a week runs Monday to Monday (ISO), across a month and a year end", () => {
    expect(periodWindow("week", "2026-12-06T12:00:00Z")).toEqual({ from: "2026-11-30T00:00:00.000Z", to: "2026-12-07T00:00:00.000Z" }); // a Sunday
    expect(periodWindow("week", "2026-12-07T00:00:00Z")).toEqual({ from: "2026-12-07T00:00:00.000Z", to: "2026-12-14T00:00:00.000Z" }); // a Monday
    expect(periodWindow("week", "2027-01-01T08:00:00Z")).toEqual({ from: "2026-12-28T00:00:00.000Z", to: "2027-01-04T00:00:00.000Z" });
  });
  it("a month runs from its first day, December into January", () => {
    expect(periodWindow("month", "2026-12-31T23:00:00Z")).toEqual({ from: "2026-12-01T00:00:00.000Z", to: "2027-01-01T00:00:00.000Z" });
  });
  it("lifetime has no bounds", () => {
    expect(periodWindow("lifetime", "2026-12-31T23:00:00Z")).toEqual({ from: "", to: "9999" });
  });
});
