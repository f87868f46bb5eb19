/**
 * Recipient rows in D1. Rows go in as one JSON parameter per statement, an array of arrays expanded
 * by json_each (D1 binds at most 100 parameters, and one statement per row would be ~15x slower).
 * Where the database has jsonb_each (src/db/json-rows.ts) it expands the rows instead. An upload holds
 * a lease on its batch (`uploading_id`), so uploads of one batch never interleave and a crashed
 * upload's rows can be found and removed by the next one.
 */
import { AppError } from "../core/errors";
import { newId } from "../core/ids";
import { batchRef } from "../db/batch-ref";
import type { JsonEach } from "../db/json-rows";
import type { BatchRow } from "./batch-state";
import { EDITABLE, refuseUnlessEditable } from "./batch-state";
import type { CheckedRecipient } from "./recipients.validate";

const LEASE_MS = 10 * 60 * 1000;
/** The rows of one upload (?2) of a batch (?1). */
const DELETE_UPLOAD = `DELETE FROM batch_recipients WHERE batch_ref = ${batchRef("?1")} AND upload_id = ?2`;
/** D1 caps a bound string at 2 MB; stay under it with room to spare. */
const MAX_PARAM_CHARS = 1_800_000;

/** Takes the batch's upload lease (as read in `batch`); returns the new upload's id. */
export async function acquireUploadLease(d1: D1Database, batch: BatchRow): Promise<string> {
  refuseUnlessEditable(batch);
  const uploadId = newId("upl");
  const now = new Date();
  const leased = await d1
    .prepare(
      `UPDATE batches SET uploading_id = ?1, uploading_until = ?2
       WHERE id = ?3 AND org = ?4 AND status IN (${EDITABLE.map((s) => `'${s}'`).join(", ")})
         AND uploading_id IS ?5 AND (uploading_id IS NULL OR uploading_until < ?6)
       RETURNING id`,
    )
    .bind(uploadId, new Date(now.getTime() + LEASE_MS).toISOString(), batch.id, batch.org, batch.uploadingId, now.toISOString())
    .first<{ id: string }>();
  if (!leased) {
    const current = await d1.prepare("SELECT * FROM batches WHERE id = ?").bind(batch.id).first<{ status: string; uploading_id: string | null }>();
    if (current && !EDITABLE.includes(current.status as never)) refuseUnlessEditable({ ...batch, status: current.status });
    throw new AppError("conflict", `Another upload to batch ${batch.id} is in progress; send chunks one after another`);
  }
  // The previous lease expired without committing: its rows were never counted, so they go.
  if (batch.uploadingId) await d1.prepare(DELETE_UPLOAD).bind(batch.id, batch.uploadingId).run();
  return uploadId;
}

/** Gives up an upload: its rows are deleted and the lease freed. */
export async function abortUpload(d1: D1Database, batchId: string, uploadId: string): Promise<void> {
  await d1.batch([
    d1.prepare(DELETE_UPLOAD).bind(batchId, uploadId),
    d1.prepare("UPDATE batches SET uploading_id = NULL, uploading_until = NULL WHERE id = ? AND uploading_id = ?").bind(batchId, uploadId),
  ]);
}

/**
 * ?4 holds the rows (see encodeRows), ?5 the id stem (`rcp_` and newId's time part), ?6 the first
 * row's number. A row's id is the stem, its row number (5 hex digits: up to 1,048,575, above the
 * 1,000,000-row limit) and 11 random hex digits (44 bits; ids are not secrets, every read is scoped
 * to the caller's org), all in newId's alphabet. Ids of one statement therefore ascend, so the
 * primary-key index grows at its end instead of taking random inserts.
 */
const insertSql = (each: JsonEach) => `INSERT INTO batch_recipients (id, batch_id, org, upload_id, row_no, external_id, name, email, phone, country, amount,
    amount_raw, currency, fields, email_key, phone_key, status, reasons, batch_ref)
  SELECT ?5 || printf('%05x', ?6 + key) || lower(substr(hex(randomblob(6)), 2)), ?1, ?2, ?3, ?6 + key, value ->> 0, value ->> 1, value ->> 2, value ->> 3,
    value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8,
    iif(value ->> 9 IS 0, value ->> 2, value ->> 9), iif(value ->> 10 IS 0, value ->> 3, value ->> 10),
    coalesce(value ->> 11, 'valid'), coalesce(value ->> 12, '[]'), ${batchRef("?1")}
  FROM ${each}(?4)`;
const INSERT_SQL = { json_each: insertSql("json_each"), jsonb_each: insertSql("jsonb_each") };

/**
 * A row as the statement reads it. What SQL can restore is left out to keep the JSON (built here,
 * escaped again by the D1 client, parsed twice more on the way in) short: the id and row number
 * (from the statement's parameters and the row's position), a key equal to its email or phone (0:
 * usual, as both are stored normalised when valid), "valid" and no reasons (null).
 */
const sameAs = (key: string | null, contact: string | null) => (key !== null && key === contact ? 0 : key);

function encodeRows(rows: CheckedRecipient[]): unknown[][] {
  return rows.map((r) => [
    r.externalId,
    r.name,
    r.email,
    r.phone,
    r.country,
    r.amount,
    r.amountRaw,
    r.currency,
    r.fields,
    sameAs(r.emailKey, r.email),
    sameAs(r.phoneKey, r.phone),
    r.status === "valid" ? null : r.status,
    r.reasons.length ? JSON.stringify(r.reasons) : null,
  ]);
}

/** Statements inserting `rows` numbered from `firstRowNo`, split so no parameter exceeds D1's size cap. */
export function insertStatements(
  d1: D1Database,
  each: JsonEach,
  batch: BatchRow,
  uploadId: string,
  rows: CheckedRecipient[],
  firstRowNo: number,
): D1PreparedStatement[] {
  const json = JSON.stringify(encodeRows(rows));
  if (json.length > MAX_PARAM_CHARS && rows.length > 1) {
    const half = Math.ceil(rows.length / 2);
    return [
      ...insertStatements(d1, each, batch, uploadId, rows.slice(0, half), firstRowNo),
      ...insertStatements(d1, each, batch, uploadId, rows.slice(half), firstRowNo + half),
    ];
  }
  return [d1.prepare(INSERT_SQL[each]).bind(batch.id, batch.org, uploadId, json, newId("rcp").slice(0, 14), firstRowNo)];
}
