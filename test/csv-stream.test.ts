import { describe, expect, it } from "vitest";
import { readCsv } from "../src/core/csv-stream";

/** The body as a stream of `size`-byte chunks (0: one chunk). */
function body(text: string, size = 0): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  const step = size || bytes.length;
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + step));
      at += step;
    },
  });
}

/** Every row, each with a mark when the reader called it malformed. */
async function rowsOf(text: string, size = 0, maxRowChars?: number) {
  const out: { cells: string[]; malformed: boolean }[] = [];
  for await (const batch of readCsv(body(text, size), { maxBytes: 1 << 20, batchRows: 7, maxRowChars })) {
    for (const [i, cells] of batch.rows.entries()) out.push({ cells, malformed: batch.malformed.has(i) });
  }
  return out;
}

const HEADER = "external_id,name,email,country,amount";
const good = (id: string) => `${id},Ok,${id.toLowerCase()}@example.com,US,2500`;

describe("reading CSV with broken quotes", () => {
  const cases: [string, string[], [string, boolean][]][] = [
    [
      "a stray closing quote",
      [`M1,"Stray"quote,m1@example.com,US,2500`, good("OK1"), good("OK2")],
      [
        ["M1", true],
        ["OK1", false],
        ["OK2", false],
      ],
    ],
    [
      "a quote that never closes",
      [`M2,"Unclosed,m2@example.com,US,2500`, good("OK1"), good("OK2")],
      [
        ["M2", true],
        ["OK1", false],
        ["OK2", false],
      ],
    ],
    [
      "a quote that never closes before a well-quoted cell",
      [`M3,"Unclosed,m3@example.com,US,2500`, `OK3,"Smith, J",ok3@example.com,US,2500`, good("OK4")],
      [
        ["M3", true],
        ["OK3", false],
        ["OK4", false],
      ],
    ],
    [
      "a stray quote in a cell that still closes on its line",
      [`M4,"a"b",m4@example.com,US,2500`, good("OK5")],
      [
        ["M4", true],
        ["OK5", false],
      ],
    ],
    [
      "a line break inside a well-quoted cell",
      [`Q1,"Line\nBreak",q1@example.com,US,2500`, good("OK6")],
      [
        ["Q1", false],
        ["OK6", false],
      ],
    ],
  ];

  for (const [what, lines, expected] of cases) {
    it(`keeps every row after ${what}, whatever the chunk size`, async () => {
      for (const nl of ["\n", "\r\n"]) {
        const text = [HEADER, ...lines].join(nl) + nl;
        const whole = await rowsOf(text);
        expect(whole.slice(1).map((r) => [r.cells[0], r.malformed])).toEqual(expected);
        for (const size of [1, 7, 64]) expect(await rowsOf(text, size)).toEqual(whole);
      }
    });
  }

  it("reads the cells of the rows after a broken one exactly", async () => {
    const rows = await rowsOf([HEADER, `M1,"Stray"quote,m1@example.com,US,2500`, `OK3,"Smith, J",ok3@example.com,US,2500`].join("\n"));
    expect(rows[1]!.cells[0]).toBe("M1");
    expect(rows[2]).toEqual({ cells: ["OK3", "Smith, J", "ok3@example.com", "US", "2500"], malformed: false });
  });

  it("cuts an unclosed quote at its line once the unfinished row outgrows the longest row, instead of refusing the file", async () => {
    const lines = [HEADER, `M2,"Unclosed,m2@example.com,US,2500`, ...Array.from({ length: 40 }, (_, i) => good(`OK${i}`))];
    const rows = await rowsOf(lines.join("\n"), 16, 200);
    expect(rows).toHaveLength(42);
    expect(rows.filter((r) => r.malformed).map((r) => r.cells[0])).toEqual(["M2"]);
    expect(rows.at(-1)!.cells).toEqual(["OK39", "Ok", "ok39@example.com", "US", "2500"]);
  });

  it("refuses a file with more broken quoted cells than it will mend", async () => {
    const lines = [HEADER, ...Array.from({ length: 1000 + 1 }, (_, i) => `M${i},"a"b,m${i}@example.com,US,2500`)];
    await expect(rowsOf(`${lines.join("\n")}\n`)).rejects.toMatchObject({ code: "invalid_csv" });
    const fewer = await rowsOf(`${lines.slice(0, 1000 + 1).join("\n")}\n`);
    expect(fewer.filter((r) => r.malformed)).toHaveLength(1000);
  });
});
