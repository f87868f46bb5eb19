/**
 * One recipient upload (a CSV or JSON chunk): rows stream through validation and exclusions into
 * D1 a few thousand at a time, then one transaction counts them into the batch, records the
 * upload, audits it and — for a draft batch that now has valid rows — moves it to `validated`.
 * If anything fails midway the upload's rows are deleted: an upload counts entirely or not at all.
 */
import { eq, sql } from "drizzle-orm";
import { appendAudit } from "../audit/audit";
import { requireProduct } from "../catalog/products.service";
import { AppError } from "../core/errors";
import { isGuardFailure, requireChanged } from "../core/guard";
import { MAX_BATCH_ROWS } from "../core/limits";
import { createDb } from "../db/client";
import { jsonEachFunction, type JsonEach } from "../db/json-rows";
import { batches } from "../db/schema";
import type { Auth, Env } from "../env";
import { getSettings } from "../settings/settings.service";
import { transitionBatch, type BatchRow } from "./batch-state";
import { batchView, requireBatch } from "./batches.service";
import { lookupKeyFacts, orgFacts, type OrgFacts } from "./recipients.lookup";
import type { RawBatch } from "./recipients.parse";
import { abortUpload, acquireUploadLease, insertStatements } from "./recipients.store";
import { StatsBuilder } from "./upload-stats";
import { applyExclusions, emptyKeySets, validateRow, validationContext, type KeySets, type ValidationContext } from "./recipients.validate";

export interface UploadTally {
  rows: number;
  valid: number;
  invalid: number;
  excluded: number;
  valid_amount: number;
  blank_lines_skipped: number;
}

interface UploadRun {
  env: Env;
  batch: BatchRow;
  uploadId: string;
  ctx: ValidationContext;
  jsonEach: JsonEach;
  nextRowNo: number;
  org: OrgFacts;
  /** Identity keys of this upload's rows so far; rows of earlier uploads are looked up in D1. */
  seen: KeySets;
  /** The batch had rows before this upload. */
  hadRows: boolean;
  tally: UploadTally;
  stats: StatsBuilder;
}

/** Validates a chunk, applies exclusions and counts it; returns the statements that store it. */
async function processChunk(run: UploadRun, chunk: RawBatch): Promise<D1PreparedStatement[]> {
  const { env, tally } = run;
  tally.blank_lines_skipped += chunk.blankLines;
  if (chunk.rows.length === 0) return [];
  if (run.nextRowNo - 1 + chunk.rows.length > MAX_BATCH_ROWS) {
    throw new AppError("row_limit_exceeded", `A batch holds at most ${MAX_BATCH_ROWS} recipients; this upload would pass that`, { max_rows: MAX_BATCH_ROWS });
  }
  const rows = chunk.rows.map((r) => validateRow(run.ctx, r));
  const facts = await lookupKeyFacts(env.DB, run.ctx, rows, { ...run.org, batchHasRows: run.hadRows });
  applyExclusions(run.ctx, rows, facts, run.seen);
  const statements = insertStatements(env.DB, run.jsonEach, run.batch, run.uploadId, rows, run.nextRowNo);
  run.nextRowNo += rows.length;
  for (const r of rows) {
    run.stats.add(r);
    tally[r.status]++;
    if (r.status === "valid") tally.valid_amount += r.amount!;
  }
  tally.rows += rows.length;
  // Past 2^53−1 sums stop being exact, and the pool could never reserve it: the whole upload is refused.
  if (run.batch.validTotal + tally.valid_amount > Number.MAX_SAFE_INTEGER) {
    throw new AppError("amount_too_large", `The batch's valid total would pass ${Number.MAX_SAFE_INTEGER} minor units; this upload stores nothing`, {
      valid_total: run.batch.validTotal,
      max_total: Number.MAX_SAFE_INTEGER,
    });
  }
  return statements;
}

async function commitUpload(run: UploadRun, auth: Auth, format: "csv" | "json", requestId?: string): Promise<void> {
  const { env, batch, uploadId, tally } = run;
  const now = new Date().toISOString();
  const patch = {
    rowsTotal: sql`${batches.rowsTotal} + ${tally.rows}`,
    validCount: sql`${batches.validCount} + ${tally.valid}`,
    invalidCount: sql`${batches.invalidCount} + ${tally.invalid}`,
    excludedCount: sql`${batches.excludedCount} + ${tally.excluded}`,
    validTotal: sql`${batches.validTotal} + ${tally.valid_amount}`,
    contentVersion: sql`${batches.contentVersion} + 1`,
    uploadingId: null,
    uploadingUntil: null,
    updatedAt: now,
  };
  const record = env.DB.prepare(
    `INSERT INTO batch_uploads (id, batch_id, org, format, first_row, rows, valid, invalid, excluded, valid_total, stats, created_by, created_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)`,
  ).bind(
    uploadId,
    batch.id,
    batch.org,
    format,
    run.nextRowNo - tally.rows,
    tally.rows,
    tally.valid,
    tally.invalid,
    tally.excluded,
    tally.valid_amount,
    JSON.stringify(run.stats.build()),
    auth.sub,
    now,
  );
  const event = {
    actor: auth.sub,
    action: "batch.recipients_uploaded",
    entityType: "batch",
    entityId: batch.id,
    after: { upload_id: uploadId, format, ...tally },
    requestId,
  };
  const leaseHeld = eq(batches.uploadingId, uploadId);
  if (batch.status === "draft" && batch.validCount + tally.valid > 0) {
    await transitionBatch(env.DB, {
      batch,
      to: "validated",
      action: "batch.validated",
      actor: auth.sub,
      requestId,
      patch,
      guard: leaseHeld,
      extra: [record],
      events: [event],
    });
    return;
  }
  const update = createDb(env.DB).update(batches).set(patch).where(leaseHeld).toSQL();
  try {
    await appendAudit(env.DB, batch.org, [event], [env.DB.prepare(update.sql).bind(...update.params), requireChanged(env.DB), record]);
  } catch (err) {
    if (isGuardFailure(err)) throw new AppError("conflict", "The upload lease expired before the upload finished; send the chunk again");
    throw err;
  }
}

export async function uploadRecipients(env: Env, auth: Auth, batchId: string, format: "csv" | "json", source: AsyncIterable<RawBatch>, requestId?: string) {
  const found = await requireBatch(env.DB, auth.org, batchId);
  const [product, settings, jsonEach] = await Promise.all([
    requireProduct(env.DB, auth.org, found.productId),
    getSettings(env.DB, auth.org),
    jsonEachFunction(env.DB),
  ]);
  const uploadId = await acquireUploadLease(env.DB, found);
  // Read again under the lease: counts and status are now stable until this upload commits.
  const batch = await requireBatch(env.DB, auth.org, batchId);
  const rowsBefore = batch.rowsTotal;
  const ctx = validationContext(batch, product, settings);
  const run: UploadRun = {
    env,
    batch,
    uploadId,
    ctx,
    jsonEach,
    nextRowNo: rowsBefore + 1,
    org: await orgFacts(env.DB, ctx),
    seen: emptyKeySets(),
    hadRows: rowsBefore > 0,
    tally: { rows: 0, valid: 0, invalid: 0, excluded: 0, valid_amount: 0, blank_lines_skipped: 0 },
    stats: new StatsBuilder(),
  };
  // One insert stays in flight while the next chunk is read, parsed and validated: on D1 the insert
  // runs elsewhere, so the two overlap (locally SQLite shares the Worker's thread and nothing does).
  // Inserts still go one after another, in row order; duplicate lookups need only earlier uploads'
  // rows from D1, since this upload's own keys are in memory (`seen`).
  let inFlight: Promise<unknown> | undefined;
  try {
    for await (const chunk of source) {
      const statements = await processChunk(run, chunk);
      await inFlight;
      inFlight = statements.length ? env.DB.batch(statements) : undefined;
      // Awaited above or below; this only keeps a failure meanwhile from counting as unhandled.
      inFlight?.catch(() => {});
    }
    await inFlight;
    await commitUpload(run, auth, format, requestId);
  } catch (err) {
    // The last insert must settle before the upload's rows are deleted, or it could land after.
    await inFlight?.catch(() => {});
    await abortUpload(env.DB, batch.id, uploadId);
    throw err;
  }
  const view = batchView(await requireBatch(env.DB, auth.org, batchId));
  return { upload: { id: uploadId, first_row: rowsBefore + 1, ...run.tally }, counts: view.counts, batch: view };
}
