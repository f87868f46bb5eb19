/**
 * POST /v1/customers/import: CSV (streamed through src/core/csv-stream.ts, as recipient uploads are)
 * or JSON. The header names the columns in any order, case-insensitive: `external_id` (required),
 * `email`, `phone`, `name`, `country`, `time_zone`; every other column is an attribute (its cells
 * are text; an empty cell leaves the attribute out). Each row is checked like a PUT
 * (customer-validate.ts) and either applied (the row replaces the stored profile) or reported with
 * its row number and reasons: no row is silently dropped. Rows are applied chunk by chunk as they
 * stream, so a failure midway leaves the earlier chunks applied; sending the file again is safe
 * (each row replaces its profile with the same values).
 */
import { appendAudit } from "../audit/audit";
import { readCsv } from "../core/csv-stream";
import { AppError } from "../core/errors";
import { newId } from "../core/ids";
import type { Auth, Env } from "../env";
import { sha256HexSync } from "../core/crypto";
import { ATTRIBUTE_NAME, CUSTOMER_REASONS, MAX_ATTRIBUTES, checkProfile, type CustomerReason, type ProfileInput } from "./customer-validate";
import { applyProfileChanges, type Entry, type ProfileChange } from "./profile-changes";
import { ENTRIES_PER_REQUEST, fireEntries } from "./segment-entries";

/** A refused row's reasons: a profile's problems, or `duplicate_in_file` (its id came earlier in the import). */
export const IMPORT_REASONS = [...CUSTOMER_REASONS, "duplicate_in_file"] as const;
export type ImportReason = (typeof IMPORT_REASONS)[number];

export interface RawChunk {
  rows: (ProfileInput & { malformed?: boolean })[];
  blankLines: number;
}

const STANDARD = ["external_id", "email", "phone", "name", "country", "time_zone"] as const;
/** Row problems listed in the answer; past this only the counts grow (`errors_truncated`). */
export const MAX_LISTED_ERRORS = 1000;
/**
 * Rows applied together: one D1 read and a few writes per chunk keep a 32 MiB CSV (~300,000 rows)
 * within the Worker's 1,000 subrequests.
 */
const IMPORT_CHUNK = 5000;
/** JSON imports per request (1 MiB body); bigger imports are CSV or several requests. */
export const MAX_JSON_CUSTOMERS = 5000;

interface Header {
  standard: Map<string, number>;
  attributes: [string, number][];
  width: number;
}

function readHeader(cells: string[]): Header {
  const header: Header = { standard: new Map(), attributes: [], width: cells.length };
  const seen = new Set<string>();
  cells.forEach((raw, i) => {
    const name = raw
      .trim()
      .toLowerCase()
      .replace(/[\s-]+/g, "_");
    if (seen.has(name)) throw new AppError("invalid_csv", `The header names the column "${name}" twice`);
    seen.add(name);
    if ((STANDARD as readonly string[]).includes(name)) header.standard.set(name, i);
    else if (ATTRIBUTE_NAME.test(name)) header.attributes.push([name, i]);
    else throw new AppError("invalid_csv", `"${raw.slice(0, 64)}" is not a usable column name (a letter or _, then letters, digits, _; at most 64)`);
  });
  if (!header.standard.has("external_id")) throw new AppError("invalid_csv", "The header must have an external_id column");
  if (header.attributes.length > MAX_ATTRIBUTES) throw new AppError("invalid_csv", `At most ${MAX_ATTRIBUTES} attribute columns`);
  return header;
}

function toRow(h: Header, cells: string[], malformed: boolean): ProfileInput & { malformed?: boolean } {
  const cell = (name: string) => {
    const i = h.standard.get(name);
    return i === undefined ? undefined : cells[i] || undefined;
  };
  const attributes: Record<string, string> = {};
  for (const [name, i] of h.attributes) if (cells[i]) attributes[name] = cells[i]!;
  return {
    external_id: cell("external_id"),
    email: cell("email"),
    phone: cell("phone"),
    name: cell("name"),
    country: cell("country"),
    time_zone: cell("time_zone"),
    attributes,
    malformed: malformed || cells.length !== h.width,
  };
}

export async function* csvCustomers(body: ReadableStream<Uint8Array> | null, maxBytes: number): AsyncGenerator<RawChunk> {
  let header: Header | undefined;
  for await (const batch of readCsv(body, { maxBytes, batchRows: IMPORT_CHUNK })) {
    let start = 0;
    if (!header && batch.rows.length) {
      header = readHeader(batch.rows[0]!);
      start = 1;
    }
    const rows: RawChunk["rows"] = [];
    for (let i = start; i < batch.rows.length; i++) rows.push(toRow(header!, batch.rows[i]!, batch.malformed.has(i)));
    yield { rows, blankLines: batch.blankLines };
  }
  if (!header) throw new AppError("invalid_csv", "The CSV file is empty; send a header line and one customer per line");
}

export async function* jsonCustomers(customers: ProfileInput[]): AsyncGenerator<RawChunk> {
  for (let i = 0; i < customers.length; i += IMPORT_CHUNK) yield { rows: customers.slice(i, i + IMPORT_CHUNK), blankLines: 0 };
}

export interface ImportTally {
  rows: number;
  created: number;
  updated: number;
  invalid: number;
  /** Rows whose external id an earlier valid row of the same import already had (`duplicate_in_file`). */
  excluded: number;
  blank_lines_skipped: number;
  segment_entries: number;
}

/**
 * The external ids of an import's applied rows, to tell a later row of the same id apart (like a
 * batch's `duplicate_in_batch`). A long id is kept as a 96-bit hash, so ~300,000 rows stay small.
 */
class SeenIds {
  private readonly ids = new Set<string>();
  private key = (id: string) => (id.length <= 32 ? id : `#${sha256HexSync(id).slice(0, 24)}`);
  /** True when the id was seen before; records it otherwise. */
  repeat(id: string): boolean {
    const k = this.key(id);
    if (this.ids.has(k)) return true;
    this.ids.add(k);
    return false;
  }
}

export async function importCustomers(env: Env, auth: Auth, format: "csv" | "json", source: AsyncIterable<RawChunk>, requestId?: string) {
  const tally: ImportTally = { rows: 0, created: 0, updated: 0, invalid: 0, excluded: 0, blank_lines_skipped: 0, segment_entries: 0 };
  const errors: { row: number; external_id: string | null; reasons: ImportReason[] }[] = [];
  const entries: Entry[] = [];
  const seen = new SeenIds();
  for await (const chunk of source) {
    tally.blank_lines_skipped += chunk.blankLines;
    const changes: ProfileChange[] = [];
    for (const raw of chunk.rows) {
      tally.rows++;
      const { profile, problems } = checkProfile(raw);
      const reasons = [...new Set<CustomerReason>([...(raw.malformed ? (["malformed_row"] as const) : []), ...problems.map((p) => p.reason)])];
      if (reasons.length) {
        tally.invalid++;
        if (errors.length < MAX_LISTED_ERRORS) errors.push({ row: tally.rows, external_id: profile.external_id || null, reasons });
        continue;
      }
      // The first valid row of an id is applied; a later one would silently replace it, so it is refused.
      if (seen.repeat(profile.external_id)) {
        tally.excluded++;
        if (errors.length < MAX_LISTED_ERRORS) errors.push({ row: tally.rows, external_id: profile.external_id, reasons: ["duplicate_in_file"] });
        continue;
      }
      changes.push({ kind: "replace", profile });
    }
    const applied = await applyProfileChanges(env, auth.org, changes);
    for (const r of applied.results) tally[r.created ? "created" : "updated"]++;
    tally.segment_entries += applied.entries.length;
    // Only the few evaluated in this request are kept: the rest wait in their membership rows for the sweep.
    entries.push(...applied.entries.slice(0, ENTRIES_PER_REQUEST - entries.length));
  }
  const id = newId("cim");
  await appendAudit(env.DB, auth.org, [
    { actor: auth.sub, action: "customers.imported", entityType: "customer_import", entityId: id, after: { format, ...tally }, requestId },
  ]);
  // The first entries are evaluated now; the rest by the five-minute sweep (segment-entries.ts).
  await fireEntries(env, auth.org, entries);
  return { id, format, ...tally, errors, errors_truncated: tally.invalid + tally.excluded > errors.length };
}
