import { describe, expect, it } from "vitest";
import { dateRows, monthDayOf } from "../src/customers/customer-store";

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
