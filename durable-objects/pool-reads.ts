/**
 * Read-only views of a pool DO's own tables for reconciliation: the journal page by page (with
 * how far the D1 mirror has confirmed it) and holds with the value their items still commit.
 * Nothing here writes; the FundingPool exposes these as RPC methods.
 */
import type { Hold } from "./pool-types";

/** A journal entry as reconciliation compares it with the D1 mirror. */
export interface JournalLine {
  seq: number;
  op_id: string;
  kind: string;
  hold_id: string | null;
  item_id: string | null;
  amount: number;
  after: string;
  /** A commit call's item ids (JSON array), else null. */
  items: string | null;
}

export interface JournalPage {
  entries: JournalLine[];
  /** The journal's last seq (0 when empty). */
  last_seq: number;
  /** The mirror watermark: every entry up to here has reached D1. */
  mirrored_seq: number;
}

/** A page stops early past this many characters of item lists: a commit entry can list 1,000 items. */
const PAGE_CHARS = 2_000_000;

export interface HoldTotals extends Hold {
  /** Sum and count of this hold's items that are still committed (not reversed or refunded). */
  items_committed: number;
  items_count: number;
}

export function journalPage(sql: SqlStorage, afterSeq: number, limit: number): JournalPage {
  const cursor = sql.exec<JournalLine & Record<string, SqlStorageValue>>(
    "SELECT seq, op_id, kind, hold_id, item_id, amount, after, items FROM journal WHERE seq > ? ORDER BY seq LIMIT ?",
    afterSeq,
    Math.max(1, Math.min(limit, 20_000)),
  );
  const entries: JournalLine[] = [];
  let chars = 0;
  for (const row of cursor) {
    entries.push(row);
    chars += row.after.length + (row.items?.length ?? 0);
    if (chars > PAGE_CHARS) break;
  }
  const marks = sql
    .exec<{ last: number | null; mirrored: number }>("SELECT (SELECT MAX(seq) FROM journal) AS last, (SELECT seq FROM mirror) AS mirrored")
    .one();
  return { entries, last_seq: Number(marks.last ?? 0), mirrored_seq: Number(marks.mirrored ?? 0) };
}

/** The holds among `holdIds` (unknown ids are left out), with their committed items' totals in one pass over items. */
export function holdsWithItems(sql: SqlStorage, holdIds: string[]): HoldTotals[] {
  if (holdIds.length === 0) return [];
  const ids = JSON.stringify(holdIds);
  const holds = sql
    .exec<Hold & Record<string, SqlStorageValue>>(
      "SELECT hold_id, amount, remaining, committed, released, state, expires_at FROM holds WHERE hold_id IN (SELECT value FROM json_each(?))",
      ids,
    )
    .toArray();
  const totals = new Map(
    sql
      .exec<{ hold_id: string; total: number; n: number }>(
        "SELECT hold_id, SUM(amount) AS total, COUNT(*) AS n FROM items WHERE state = 'committed' AND hold_id IN (SELECT value FROM json_each(?)) GROUP BY hold_id",
        ids,
      )
      .toArray()
      .map((r) => [r.hold_id, r]),
  );
  return holds.map((h) => ({ ...h, items_committed: Number(totals.get(h.hold_id)?.total ?? 0), items_count: Number(totals.get(h.hold_id)?.n ?? 0) }));
}

/**
 * Pending holds that still reserve value although their expiry passed before `before` (the alarm
 * should have expired them), longest overdue first, at most `limit`. Served by `holds_pending`.
 */
export function overdueHolds(sql: SqlStorage, before: number, limit: number): Hold[] {
  return sql
    .exec<Hold & Record<string, SqlStorageValue>>(
      `SELECT hold_id, amount, remaining, committed, released, state, expires_at FROM holds
       WHERE state = 'pending' AND expires_at < ? AND remaining > 0 ORDER BY expires_at LIMIT ?`,
      before,
      limit,
    )
    .toArray();
}

export interface OpenHold extends Hold {
  /** When the hold was last reserved, reopened or adopted (ms). */
  touched_at: number;
}

/**
 * Pending holds after `afterHoldId` in id order, at most `limit` (≤ 500): the pages of a sweep
 * over a pool's open holds. Served by the primary key.
 */
export function openHolds(sql: SqlStorage, afterHoldId: string, limit: number): OpenHold[] {
  return sql
    .exec<OpenHold & Record<string, SqlStorageValue>>(
      `SELECT hold_id, amount, remaining, committed, released, state, expires_at, COALESCE(touched_at, created_at) AS touched_at FROM holds
       WHERE hold_id > ? AND state = 'pending' ORDER BY hold_id LIMIT ?`,
      afterHoldId,
      Math.max(1, Math.min(limit, 500)),
    )
    .toArray();
}

export interface ItemState {
  item_id: string;
  hold_id: string | null;
  amount: number | null;
  /** null: the pool has no such item. */
  state: "committed" | "reversed" | "refunded" | null;
}

/**
 * The items of `expected` (JSON array of [item id, amount D1 says is committed (0: none), delivery
 * status]) whose pool record disagrees: a different committed amount, a delivered reward not
 * committed, or a failed or reversed one still committed. One primary-key lookup per item, and
 * only the disagreements travel back.
 */
export function itemsDisagreeing(sql: SqlStorage, expected: string): ItemState[] {
  return sql
    .exec<ItemState & Record<string, SqlStorageValue>>(
      `SELECT j.value ->> 0 AS item_id, i.hold_id, i.amount, i.state FROM json_each(?) j LEFT JOIN items i ON i.item_id = j.value ->> 0
       WHERE COALESCE(CASE WHEN i.state = 'committed' THEN i.amount END, 0) <> j.value ->> 1
          OR (j.value ->> 2 = 'delivered' AND i.state IS NOT 'committed')
          OR (j.value ->> 2 IN ('failed', 'reversed') AND i.state = 'committed')`,
      expected,
    )
    .toArray();
}
