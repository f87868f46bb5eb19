import { chainHash, GENESIS_HASH, type AuditRow } from "./audit";
import { SETTLED_ACTION, verifySettlement } from "./settlement";

/** Rows read per query while verifying, so a long chain is never held in memory at once. */
export const VERIFY_PAGE_SIZE = 1000;

/**
 * Why the chain breaks at an event, checked in this order:
 * - `seq_gap`: the event's seq is not the previous seq + 1 (an event before it was deleted);
 * - `prev_hash_mismatch`: its prev_hash is not the previous event's hash (events reordered or replaced);
 * - `hash_mismatch`: its own hash does not match its content (the row was edited);
 * - `digest_mismatch`: a delivery run's settlement event no longer matches the attempt rows it
 *   settled (a recorded outcome was edited or deleted; src/audit/settlement.ts).
 */
export type BreakReason = "seq_gap" | "prev_hash_mismatch" | "hash_mismatch" | "digest_mismatch";

export interface ChainBreak {
  seq: number;
  event_id: string;
  reason: BreakReason;
  detail: string;
}

export interface VerifyResult {
  valid: boolean;
  events_checked: number;
  last_seq: number | null;
  last_hash: string | null;
  first_break: ChainBreak | null;
}

interface Cursor {
  seq: number;
  hash: string;
}

/** Checks one event against the previous one; null when it continues the chain intact. */
export async function checkEvent(row: AuditRow, prev: Cursor): Promise<ChainBreak | null> {
  const at = { seq: row.seq, event_id: row.id };
  if (row.seq !== prev.seq + 1) {
    return { ...at, reason: "seq_gap", detail: `Expected seq ${prev.seq + 1} after ${prev.seq}, found ${row.seq}` };
  }
  if (row.prev_hash !== prev.hash) {
    return { ...at, reason: "prev_hash_mismatch", detail: `prev_hash does not match the hash of seq ${prev.seq}` };
  }
  if (chainHash(row.prev_hash, row) !== row.hash) {
    return { ...at, reason: "hash_mismatch", detail: "The stored hash does not match the event's content" };
  }
  return null;
}

async function readPage(d1: D1Database, org: string, afterSeq: number, size: number): Promise<AuditRow[]> {
  const { results } = await d1.prepare("SELECT * FROM audit_events WHERE org = ? AND seq > ? ORDER BY seq LIMIT ?").bind(org, afterSeq, size).all<AuditRow>();
  return results;
}

/**
 * Recomputes the org's hash chain from the genesis hash in seq order, page by page, and stops at the
 * first break. Deleting the newest events leaves an intact (shorter) chain: compare `last_seq` and
 * `last_hash` with a copy kept elsewhere to detect truncation.
 */
export async function verifyAuditChain(d1: D1Database, org: string, pageSize = VERIFY_PAGE_SIZE): Promise<VerifyResult> {
  let prev: Cursor = { seq: 0, hash: GENESIS_HASH };
  let checked = 0;
  let readUpTo = Number.MIN_SAFE_INTEGER; // so a forged seq of 0 or below is read and reported too
  for (;;) {
    const rows = await readPage(d1, org, readUpTo, pageSize);
    for (const row of rows) {
      checked += 1;
      const broken = await checkEvent(row, prev);
      if (broken) return result(checked, prev, broken);
      if (row.action === SETTLED_ACTION) {
        const detail = await verifySettlement(d1, org, row.after);
        if (detail) return result(checked, prev, { seq: row.seq, event_id: row.id, reason: "digest_mismatch", detail });
      }
      prev = { seq: row.seq, hash: row.hash };
    }
    if (rows.length < pageSize) return result(checked, prev, null);
    readUpTo = rows.at(-1)!.seq;
  }
}

function result(checked: number, prev: Cursor, broken: ChainBreak | null): VerifyResult {
  const any = prev.seq > 0;
  return {
    valid: broken === null,
    events_checked: checked,
    last_seq: any ? prev.seq : null,
    last_hash: any ? prev.hash : null,
    first_break: broken,
  };
}
