// Phone normalisation takes a shortcut for input that is already E.164; these tests hold it to
// exactly what libphonenumber's full parse says, on every country's example numbers, on those
// numbers with a national prefix or a trunk digit wedged in after the calling code, and on random digits.
import fc from "fast-check";
import examples from "libphonenumber-js/examples.mobile.json";
import { getCountries, getCountryCallingCode, getExampleNumber, parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js/min";
import { describe, expect, it } from "vitest";
import { emailKey, toE164 } from "../src/core/contacts";

function byFullParse(raw: string, country?: CountryCode): string | null {
  const parsed = parsePhoneNumberFromString(raw, country ? { defaultCountry: country } : undefined);
  return parsed?.isValid() ? parsed.number : null;
}

describe("toE164", () => {
  it("agrees with the full parse on every country's example number and its near misses", () => {
    let checked = 0;
    let valid = 0;
    for (const country of getCountries()) {
      const example = getExampleNumber(country, examples);
      if (!example) continue;
      const code = example.countryCallingCode;
      const national = example.nationalNumber;
      const inputs = [
        example.number, // canonical and valid
        `+${code}0${national}`, // a trunk "0" kept after the code (+44 0 20…)
        `+${code}1${national}`, // NANP-style trunk "1"
        `+${code}9${national}`, // Argentina's mobile "9"
        `+${code}${national.slice(0, -1)}`, // one digit short
        `+${code}${national}7`, // one digit long
        `${national}`, // national form, read with the row's country
      ];
      for (const raw of inputs) {
        expect([raw, country, toE164(raw, country)]).toEqual([raw, country, byFullParse(raw, country)]);
        checked++;
        if (toE164(raw, country)) valid++;
      }
    }
    expect(checked).toBeGreaterThan(1000);
    expect(valid).toBeGreaterThan(200);
  });

  it("agrees with the full parse on random E.164-shaped digits", () => {
    const codes = [...new Set(getCountries().map((c) => getCountryCallingCode(c)))];
    fc.assert(
      fc.property(fc.constantFrom(...codes), fc.stringMatching(/^\d{4,13}$/), (code, digits) => {
        const raw = `+${code}${digits}`;
        expect(toE164(raw)).toBe(byFullParse(raw));
      }),
      { numRuns: 5000, seed: 42 },
    );
  });

  it("keeps numbers whose national part starts with a trunk prefix on the full parse", () => {
    // Mexico's old mobile "1" after +52 is stripped by the parser; Italy's leading 0 is part of the number.
    expect(toE164("+5215512345678")).toBe(byFullParse("+5215512345678"));
    expect(toE164("+390612345678")).toBe("+390612345678");
    expect(toE164("+14155550123")).toBe(byFullParse("+14155550123"));
    expect(toE164("+1 415 555 0123", "US")).toBe(byFullParse("+1 415 555 0123", "US"));
    expect(toE164("+999123456789")).toBeNull();
    expect(toE164("+1415\n5550123")).toBeNull();
  });
});

describe("emailKey", () => {
  it("lower-cases and drops a +tag, keeping dots", () => {
    expect(emailKey("Ann.Lee+Promo@Example.COM")).toBe("ann.lee@example.com");
  });
});
