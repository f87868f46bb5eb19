/**
 * Release fan-out in bounded steps: the release message splits the batch's valid recipients into
 * chunks of CHUNK_ROWS (one chunk message each); a chunk message creates the deliveries of its
 * rows (ids derived from recipient ids, so a redelivered chunk creates nothing twice) and enqueues
 * one deliver message per delivery.
 */
import { AppError } from "../core/errors";
import type { BatchRow } from "../batches/batch-state";
import { transitionBatch } from "../batches/batch-state";
import { findBatch } from "../batches/batches.service";
import { batchRef } from "../db/batch-ref";
import type { Env } from "../env";
import { pinBatchHold } from "../pools/batch-holds";
import { completeBatchIfDone } from "./completion";
import { createForChunk } from "./delivery-state";
import { DELIVERIES_PER_MESSAGE, sendMessages, type ChunkMessage, type QueueMessage, type ReleaseMessage } from "../queues/messages";

export const CHUNK_ROWS = 1000;

export async function startRelease(env: Env, msg: ReleaseMessage): Promise<void> {
  const batch = await findBatch(env.DB, msg.org, msg.batchId);
  if (!batch || (batch.status !== "releasing" && batch.status !== "delivering")) return;
  if (batch.status === "releasing") {
    await pinBatchHold(env, batch);
    await planChunks(env, batch);
  }
  const { results } = await env.DB.prepare("SELECT from_row, to_row FROM delivery_chunks WHERE batch_id = ? AND done = 0 ORDER BY from_row")
    .bind(batch.id)
    .all<{ from_row: number; to_row: number }>();
  await sendMessages(
    env.DELIVERY_QUEUE,
    results.map((c) => ({ type: "chunk", org: batch.org, batchId: batch.id, fromRow: c.from_row, toRow: c.to_row })),
  );
  if (results.length === 0) await completeBatchIfDone(env, batch.org, batch.id);
}

/** Writes the chunk plan and moves the batch releasing → delivering in one transaction. */
async function planChunks(env: Env, batch: BatchRow): Promise<void> {
  // Chunks are ranges of CHUNK_ROWS row numbers between the batch's first and last row: two index
  // reads (MIN and MAX in one SELECT would walk the batch: SQLite optimises a lone MIN or MAX only),
  // where numbering the valid rows read every recipient (4 rows read per delivery). A chunk may hold
  // fewer valid rows (invalid and excluded ones have no delivery), or none.
  const insertChunks = env.DB.prepare(
    `WITH RECURSIVE bounds AS (SELECT (SELECT MIN(row_no) FROM batch_recipients WHERE batch_ref = ${batchRef("?1")}) AS lo,
                                      (SELECT MAX(row_no) FROM batch_recipients WHERE batch_ref = ${batchRef("?1")}) AS hi),
       chunk(from_row) AS (SELECT lo FROM bounds WHERE lo IS NOT NULL UNION ALL SELECT from_row + ?2 FROM chunk, bounds WHERE from_row + ?2 <= hi)
     INSERT OR IGNORE INTO delivery_chunks (batch_id, from_row, to_row, org, done)
     SELECT ?1, from_row, MIN(from_row + ?2 - 1, (SELECT hi FROM bounds)), ?3, 0 FROM chunk`,
  ).bind(batch.id, CHUNK_ROWS, batch.org);
  try {
    await transitionBatch(env.DB, {
      batch,
      to: "delivering",
      action: "batch.delivery_started",
      actor: "system:delivery",
      patch: { releasedAt: new Date().toISOString() },
      extra: [insertChunks],
      details: { valid_count: batch.validCount },
    });
  } catch (err) {
    // A redelivered release message: another attempt already moved the batch on.
    if (!(err instanceof AppError && err.code === "invalid_state_transition")) throw err;
  }
}

export async function runChunk(env: Env, msg: ChunkMessage): Promise<void> {
  const now = new Date().toISOString();
  const range = [msg.batchId, msg.fromRow, msg.toRow] as const;
  await createForChunk(env.DB, ...range, now).run();
  // The chunk's deliveries by their ids, derived from the recipients' ids as createForChunk makes them.
  const { results } = await env.DB.prepare(
    `SELECT d.id FROM batch_recipients r JOIN deliveries d ON d.id = 'dlv_' || substr(r.id, 5)
     WHERE r.batch_ref = ${batchRef("?1")} AND r.row_no BETWEEN ?2 AND ?3 AND r.status = 'valid' AND d.status = 'queued'`,
  )
    .bind(...range)
    .all<{ id: string }>();
  const messages: QueueMessage[] = [];
  for (let i = 0; i < results.length; i += DELIVERIES_PER_MESSAGE) {
    messages.push({ type: "deliver", org: msg.org, batchId: msg.batchId, deliveryIds: results.slice(i, i + DELIVERIES_PER_MESSAGE).map((d) => d.id) });
  }
  await sendMessages(env.DELIVERY_QUEUE, messages);
  await env.DB.prepare("UPDATE delivery_chunks SET done = 1 WHERE batch_id = ? AND from_row = ?").bind(msg.batchId, msg.fromRow).run();
}
