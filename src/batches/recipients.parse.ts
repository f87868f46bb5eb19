/**
 * Recipient input, CSV or JSON, turned into batches of RawRecipient. The CSV header names the
 * columns (any order, case-insensitive); columns other than the standard ones become template
 * fields. Nothing is judged here beyond the file's shape: rows are validated in recipients.validate.ts.
 */
import { readCsv } from "../core/csv-stream";
import { AppError } from "../core/errors";

export interface RawRecipient {
  external_id?: string;
  name?: string;
  email?: string;
  phone?: string;
  country?: string;
  amount?: string | number;
  currency?: string;
  fields?: Record<string, string>;
  /** The CSV row had stray quotes or another number of cells than the header. */
  malformed?: boolean;
}

export interface RawBatch {
  rows: RawRecipient[];
  blankLines: number;
}

export const STANDARD_COLUMNS = ["external_id", "name", "email", "phone", "country", "amount", "currency"] as const;
type Standard = (typeof STANDARD_COLUMNS)[number];
const FIELD_NAME = /^[a-z][a-z0-9_]{0,39}$/;
export const MAX_TEMPLATE_FIELDS = 20;

interface Header {
  /** Cell index of each standard column, or -1 when the file has no such column. */
  standard: Record<Standard, number>;
  fields: [string, number][];
  width: number;
}

function readHeader(cells: string[]): Header {
  const names = cells.map((c) =>
    c
      .trim()
      .toLowerCase()
      .replace(/[\s-]+/g, "_"),
  );
  const seen = new Set<string>();
  const standard = Object.fromEntries(STANDARD_COLUMNS.map((c) => [c, -1])) as Record<Standard, number>;
  const header: Header = { standard, fields: [], width: names.length };
  names.forEach((name, i) => {
    if (seen.has(name)) throw new AppError("invalid_csv", `The header names the column "${name}" twice`);
    seen.add(name);
    if ((STANDARD_COLUMNS as readonly string[]).includes(name)) standard[name as Standard] = i;
    else if (FIELD_NAME.test(name)) header.fields.push([name, i]);
    else throw new AppError("invalid_csv", `"${cells[i]}" is not a usable column name (letters, digits, _; at most 40)`);
  });
  if (!seen.has("amount")) throw new AppError("invalid_csv", "The header must have an amount column");
  if (!seen.has("email") && !seen.has("phone")) throw new AppError("invalid_csv", "The header must have an email or a phone column");
  if (header.fields.length > MAX_TEMPLATE_FIELDS) throw new AppError("invalid_csv", `At most ${MAX_TEMPLATE_FIELDS} template field columns`);
  return header;
}

/** A non-empty cell, or undefined for an empty or missing one. */
const cell = (cells: string[], i: number): string | undefined => (i < 0 ? undefined : cells[i] || undefined);

function toRecipient(header: Header, cells: string[], malformed: boolean): RawRecipient {
  const { standard: c } = header;
  // Every row gets the same object shape, so validation reads it through one hidden class.
  const r: RawRecipient = {
    external_id: cell(cells, c.external_id),
    name: cell(cells, c.name),
    email: cell(cells, c.email),
    phone: cell(cells, c.phone),
    country: cell(cells, c.country),
    amount: cell(cells, c.amount),
    currency: cell(cells, c.currency),
    fields: undefined,
    malformed: malformed || cells.length !== header.width,
  };
  if (header.fields.length) {
    const fields: Record<string, string> = {};
    for (const [name, i] of header.fields) if (cells[i]) fields[name] = cells[i]!;
    r.fields = fields;
  }
  return r;
}

export async function* csvRecipients(body: ReadableStream<Uint8Array> | null, maxBytes: number): AsyncGenerator<RawBatch> {
  let header: Header | undefined;
  for await (const batch of readCsv(body, { maxBytes, batchRows: 5000 })) {
    let start = 0;
    if (!header && batch.rows.length) {
      header = readHeader(batch.rows[0]!);
      start = 1;
    }
    const rows: RawRecipient[] = [];
    for (let i = start; i < batch.rows.length; i++) rows.push(toRecipient(header!, batch.rows[i]!, batch.malformed.has(i)));
    yield { rows, blankLines: batch.blankLines };
  }
  if (!header) throw new AppError("invalid_csv", "The CSV file is empty; send a header line and one recipient per line");
}

export async function* jsonRecipients(recipients: RawRecipient[]): AsyncGenerator<RawBatch> {
  for (let i = 0; i < recipients.length; i += 5000) yield { rows: recipients.slice(i, i + 5000), blankLines: 0 };
}
