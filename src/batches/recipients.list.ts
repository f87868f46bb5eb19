/** Reading a batch's recipient rows: pages of JSON, or the whole selection as a streamed CSV export. */
import { batchRef } from "../db/batch-ref";
import type { RecipientStatus } from "./recipients.validate";

export interface RecipientRow {
  id: string;
  row_no: number;
  upload_id: string;
  external_id: string | null;
  name: string | null;
  email: string | null;
  phone: string | null;
  country: string | null;
  amount: number | null;
  amount_raw: string | null;
  currency: string;
  fields: string | null;
  status: RecipientStatus;
  reasons: string;
}

export function recipientView(r: RecipientRow) {
  return {
    id: r.id,
    row: r.row_no,
    upload_id: r.upload_id,
    status: r.status,
    reasons: JSON.parse(r.reasons) as string[],
    external_id: r.external_id,
    name: r.name,
    email: r.email,
    phone: r.phone,
    country: r.country,
    amount: r.amount,
    ...(r.amount_raw !== null ? { amount_raw: r.amount_raw } : {}),
    currency: r.currency,
    fields: r.fields ? (JSON.parse(r.fields) as Record<string, string>) : {},
  };
}

/** Rows after `afterRow` in row order, optionally of one status. */
export async function recipientRows(
  d1: D1Database,
  batchId: string,
  opts: { status?: RecipientStatus; afterRow: number; limit: number },
): Promise<RecipientRow[]> {
  const where = `batch_ref = ${batchRef("?1")} AND ${opts.status ? "status = ?4 AND " : ""}row_no > ?2`;
  const { results } = await d1
    .prepare(
      `SELECT id, row_no, upload_id, external_id, name, email, phone, country, amount, amount_raw, currency, fields, status, reasons
       FROM batch_recipients WHERE ${where} ORDER BY row_no LIMIT ?3`,
    )
    .bind(batchId, opts.afterRow, opts.limit, ...(opts.status ? [opts.status] : []))
    .all<RecipientRow>();
  return results;
}

const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One CSV cell, safe to open in a spreadsheet: a cell that a spreadsheet would read as a formula
 * (starting with = + - @, tab or CR) gets a leading apostrophe (OWASP's advice), and cells with
 * commas, quotes or line breaks are quoted.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  let s = String(value);
  if (FORMULA_START.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

const EXPORT_COLUMNS = ["row", "id", "status", "reasons", "external_id", "name", "email", "phone", "country", "amount", "currency", "fields"] as const;

function csvLine(r: RecipientRow): string {
  const reasons = (JSON.parse(r.reasons) as string[]).join(";");
  const amount = r.amount ?? r.amount_raw;
  return `${[r.row_no, r.id, r.status, reasons, r.external_id, r.name, r.email, r.phone, r.country, amount, r.currency, r.fields].map(csvCell).join(",")}\r\n`;
}

/** A CSV of every selected row, read from D1 page by page as the client consumes it. */
export function recipientsCsv(d1: D1Database, batchId: string, status?: RecipientStatus): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let afterRow = 0;
  let headerSent = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!headerSent) {
        headerSent = true;
        controller.enqueue(encoder.encode(`${EXPORT_COLUMNS.join(",")}\r\n`));
        return;
      }
      const rows = await recipientRows(d1, batchId, { status, afterRow, limit: 5000 });
      if (rows.length === 0) return controller.close();
      afterRow = rows.at(-1)!.row_no;
      controller.enqueue(encoder.encode(rows.map(csvLine).join("")));
    },
  });
}
