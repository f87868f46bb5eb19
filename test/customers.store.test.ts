import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { dateRows, monthDayOf, touchOf, touchStatement } from "../src/customers/customer-store";
import { uniqueOrg } from "./helpers/api";

describe("customer date index", () => {
  it("reads the month-day of full dates, date-times and year-less dates", () => {
    expect(monthDayOf("1990-07-14")).toBe("07-14");
    expect(monthDayOf("1990-07-14T10:00:00Z")).toBe("07-14");
    expect(monthDayOf("--12-31")).toBe("12-31");
  });

  it("keeps February 29 of leap years and refuses impossible dates", () => {
    expect(monthDayOf("2000-02-29")).toBe("02-29");
    expect(monthDayOf("--02-29")).toBe("02-29");
    expect(monthDayOf("1900-02-29")).toBeNull();
    expect(monthDayOf("2023-02-29")).toBeNull();
    expect(monthDayOf("2023-04-31")).toBeNull();
    expect(monthDayOf("2023-13-01")).toBeNull();
    expect(monthDayOf("14/07/1990")).toBeNull();
    expect(monthDayOf(19900714)).toBeNull();
  });

  it("indexes only the attributes that hold dates", () => {
    expect(dateRows({ birthday: "1990-07-14", tier: "gold", signup_date: "2026-01-02", visits: 3 })).toEqual([
      { attribute: "birthday", monthDay: "07-14", value: "1990-07-14" },
      { attribute: "signup_date", monthDay: "01-02", value: "2026-01-02" },
    ]);
  });
});

describe("touches of many profiles in one statement", () => {
  const read = (org: string, id: string) =>
    env.DB.prepare("SELECT identity_key, email, phone, name, country, attributes, last_seen_at FROM customers WHERE org = ? AND external_id = ?")
      .bind(org, id)
      .first<Record<string, string | null>>();
  const touch = (p: Parameters<typeof touchOf>[2], seenAt: string, stored: Record<string, unknown> | null = null) =>
    touchOf(env, "unused", p, stored, seenAt).touch;

  it("applies the touches in order, a profile named twice getting both", async () => {
    const org = uniqueOrg("tch");
    const now = new Date().toISOString();
    await touchStatement(
      env,
      org,
      [
        touch({ external_id: "A", email: "a@example.com", attributes: { tier: "silver" } }, "2026-12-01T00:00:00.000Z"),
        touch({ external_id: "B", phone: "+14155550132" }, "2026-12-01T00:00:00.000Z"),
        touch({ external_id: "A", name: "Ann", attributes: { tier: "gold" } }, "2026-12-02T00:00:00.000Z", { tier: "silver" }),
      ],
      now,
    ).run();
    expect(await read(org, "A")).toMatchObject({
      identity_key: "email:a@example.com",
      email: "a@example.com",
      name: "Ann",
      attributes: '{"tier":"gold"}',
      last_seen_at: "2026-12-02T00:00:00.000Z",
    });
    expect(await read(org, "B")).toMatchObject({ identity_key: "phone:+14155550132", phone: "+14155550132", email: null });
  });

  it("a touch that is late when written (a newer event landed since it was read) only fills what the profile lacks", async () => {
    const org = uniqueOrg("tch");
    const now = new Date().toISOString();
    const newer = "2026-12-05T00:00:00.000Z";
    await touchStatement(env, org, [touch({ external_id: "L", email: "new@example.com", name: "New Name", attributes: { tier: "gold" } }, newer)], now).run();
    // Read before the newer event: the caller took it for current and did not filter it.
    await touchStatement(
      env,
      org,
      [
        touch(
          { external_id: "L", email: "old@example.com", phone: "+14155550132", name: "Old Name", country: "CA", attributes: { tier: "silver", visits: 1 } },
          "2026-12-01T00:00:00.000Z",
        ),
      ],
      now,
    ).run();
    const row = await read(org, "L");
    expect(row).toMatchObject({
      identity_key: "email:new@example.com",
      email: "new@example.com",
      phone: "+14155550132",
      name: "New Name",
      country: "CA",
      last_seen_at: newer,
    });
    expect(JSON.parse(row!.attributes!)).toEqual({ tier: "gold", visits: 1 });
  });
});
