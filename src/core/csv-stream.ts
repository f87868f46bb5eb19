/**
 * Streams a CSV request body into batches of rows without ever holding the whole body: bytes are
 * decoded as UTF-8 chunk by chunk (a BOM is dropped) and fed to papaparse's core parser, carrying
 * the unfinished last row over to the next chunk the way papaparse's own streamers do, so quoted
 * fields may contain commas and line breaks and may span chunks. RFC 4180 quoting; CRLF or LF.
 *
 * A quoted field whose closing quote is stray (`"Stray"quote,…`) or missing would, left to the
 * parser, run on to the next quote that happens to close it, swallowing the rows in between. Such a
 * field ends with its line instead: its row is reported malformed and the next line is read as the
 * next row, so one typo costs one row.
 */
import Papa from "papaparse";
import { AppError } from "./errors";

export interface CsvBatch {
  /** Rows in file order (the header is the first row of the first batch); blank lines are left out. */
  rows: string[][];
  /** Indexes into `rows` of rows papaparse reported as malformed (stray or unclosed quotes). */
  malformed: Set<number>;
  /** Blank lines skipped since the previous batch. */
  blankLines: number;
}

export interface CsvStreamOptions {
  maxBytes: number;
  /** Rows per yielded batch. */
  batchRows?: number;
  /** Longest row accepted, in characters: bounds the carry-over buffer. */
  maxRowChars?: number;
}

/** Rows with a broken quoted field cut at their line's end, per upload: past this the file is refused. */
export const MAX_BROKEN_QUOTE_ROWS = 1000;

interface ParseResult {
  data: string[][];
  errors: { code?: string; row?: number; index?: number }[];
  meta: { cursor: number };
}

const LINE_BREAK = /[\r\n]/;

/**
 * The index just past the opening quote of the first quoted field whose closing quote is stray or
 * missing and which ran over a line break (within its row, or in the unfinished row being carried);
 * -1 when there is none. A field with a stray quote that still closed on its own line is left as
 * the parser read it (its row is malformed either way).
 */
function brokenField(result: ParseResult, text: string, newline: string): number {
  for (const e of result.errors) {
    if ((e.code !== "InvalidQuotes" && e.code !== "MissingQuotes") || e.index === undefined || e.row === undefined) continue;
    const row = result.data[e.row];
    if (row ? row.some((c) => LINE_BREAK.test(c)) : text.indexOf(newline, e.index) !== -1) return e.index;
  }
  return -1;
}

/** Line endings are those of the first line; quoted text is ignored while looking. */
function guessNewline(text: string): string {
  const sample = text.slice(0, 64 * 1024).replace(/"[^"]*"/g, "");
  const lf = sample.indexOf("\n");
  if (lf === -1) return sample.includes("\r") ? "\r" : "\n";
  return lf > 0 && sample[lf - 1] === "\r" ? "\r\n" : "\n";
}

function isBlank(row: string[]): boolean {
  return row.every((cell) => cell.trim() === "");
}

export async function* readCsv(body: ReadableStream<Uint8Array> | null, opts: CsvStreamOptions): AsyncGenerator<CsvBatch> {
  if (!body) return;
  const batchRows = opts.batchRows ?? 5000;
  const maxRowChars = opts.maxRowChars ?? 1024 * 1024;
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  const reader = body.getReader();
  let parser: Papa.Parser | undefined;
  let carry = "";
  let bytes = 0;
  let out: CsvBatch = { rows: [], malformed: new Set(), blankLines: 0 };
  let finished = false;

  let newline = "\n";
  let brokenRows = 0;
  const parse = (text: string, complete: boolean): ParseResult => {
    if (!parser) {
      newline = guessNewline(text);
      parser = new Papa.Parser({ delimiter: ",", newline: newline as "\n", quoteChar: '"', escapeChar: '"' });
    }
    return parser.parse(text, 0, !complete) as ParseResult;
  };
  const keep = (result: ParseResult) => {
    const bad = new Set(result.errors.map((e) => e.row ?? -1));
    for (const [i, row] of result.data.entries()) {
      if (isBlank(row)) {
        out.blankLines++;
        continue;
      }
      if (bad.has(i)) out.malformed.add(out.rows.length);
      out.rows.push(row);
    }
  };
  const take = (input: string, last: boolean) => {
    let text = input;
    // The parser's line ending is guessed from its first text: wait for a whole first line break.
    const firstBreak = parser ? 0 : text.search(/[\r\n]/);
    if (!last && (firstBreak === -1 || firstBreak === text.length - 1)) {
      if (text.length > maxRowChars) throw new AppError("invalid_csv", `A CSV row is longer than ${maxRowChars} characters`);
      carry = text;
      return;
    }
    for (;;) {
      let result = parse(text, last);
      // An unfinished row this long has a quote that never closed: read it as if the input ended here.
      const overlong = !last && text.length - result.meta.cursor > maxRowChars;
      if (overlong) result = parse(text, true);
      const at = brokenField(result, text, newline);
      const cut = at === -1 ? -1 : text.indexOf(newline, at);
      if (cut === -1) {
        if (overlong) throw new AppError("invalid_csv", `A CSV row is longer than ${maxRowChars} characters`);
        keep(result);
        carry = last ? "" : text.slice(result.meta.cursor);
        return;
      }
      if (++brokenRows > MAX_BROKEN_QUOTE_ROWS) {
        throw new AppError(
          "invalid_csv",
          `More than ${MAX_BROKEN_QUOTE_ROWS} rows have a quoted cell with a stray or missing closing quote; fix the file's quoting`,
        );
      }
      keep(parse(text.slice(0, cut), true));
      text = text.slice(cut + newline.length);
    }
  };

  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        finished = true;
        take(carry + decode(decoder), true);
      } else {
        bytes += value.byteLength;
        if (bytes > opts.maxBytes) throw new AppError("payload_too_large", `The body exceeds ${opts.maxBytes} bytes; send it in smaller chunks`);
        take(carry + decode(decoder, value), false);
      }
      if (out.rows.length >= batchRows || (finished && (out.rows.length > 0 || out.blankLines > 0))) {
        yield out;
        out = { rows: [], malformed: new Set(), blankLines: 0 };
      }
      if (finished) return;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
  }
}

function decode(decoder: TextDecoder, bytes?: Uint8Array): string {
  try {
    return bytes ? decoder.decode(bytes, { stream: true }) : decoder.decode();
  } catch {
    throw new AppError("invalid_csv", "The body is not valid UTF-8");
  }
}
