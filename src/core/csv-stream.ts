/**
 * Streams a CSV request body into batches of rows without ever holding the whole body: bytes are
 * decoded as UTF-8 chunk by chunk (a BOM is dropped) and fed to papaparse's core parser, carrying
 * the unfinished last row over to the next chunk the way papaparse's own streamers do, so quoted
 * fields may contain commas and line breaks and may span chunks. RFC 4180 quoting; CRLF or LF.
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

  const take = (text: string, last: boolean) => {
    parser ??= new Papa.Parser({ delimiter: ",", newline: guessNewline(text) as "\n", quoteChar: '"', escapeChar: '"' });
    const result = parser.parse(text, 0, !last) as { data: string[][]; errors: { row?: number }[]; meta: { cursor: number } };
    const bad = new Set(result.errors.map((e) => e.row ?? -1));
    result.data.forEach((row, i) => {
      if (isBlank(row)) return void out.blankLines++;
      if (bad.has(i)) out.malformed.add(out.rows.length);
      out.rows.push(row);
    });
    carry = last ? "" : text.slice(result.meta.cursor);
    if (carry.length > maxRowChars) throw new AppError("invalid_csv", `A CSV row is longer than ${maxRowChars} characters (an unclosed quote?)`);
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
