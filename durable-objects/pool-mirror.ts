import type { PoolMeta, PoolStore } from "./pool-store";
import { BUCKETS } from "./pool-types";

const PAGE = 1000;

/**
 * Copies journal entries the D1 mirror lacks, oldest first. INSERT OR IGNORE on (pool_id, seq) and
 * the conditional balance update make a repeated or concurrent drain harmless: nothing is lost if a
 * D1 write fails (entries stay unmirrored and the alarm retries) and nothing is written twice.
 */
export async function mirrorJournal(db: D1Database, store: PoolStore, meta: PoolMeta | null): Promise<number> {
  if (!meta) return 0;
  let written = 0;
  for (;;) {
    const entries = store.unmirrored(PAGE);
    const last = entries.at(-1);
    if (!last) return written;
    const rows = entries.map((e) => ({ ...e, created_at: new Date(e.created_at).toISOString() }));
    const after = JSON.parse(last.after) as Record<string, number>;
    await db.batch([
      db
        .prepare(
          `INSERT OR IGNORE INTO pool_ledger (pool_id, seq, org, op_id, kind, hold_id, item_id, amount, before, after, actor, reference, created_at, items)
           SELECT ?1, value ->> 'seq', ?2, value ->> 'op_id', value ->> 'kind', value ->> 'hold_id', value ->> 'item_id', value ->> 'amount',
                  value ->> 'before', value ->> 'after', value ->> 'actor', value ->> 'reference', value ->> 'created_at', value ->> 'items'
           FROM json_each(?3)`,
        )
        .bind(meta.poolId, meta.org, JSON.stringify(rows)),
      db
        .prepare(`UPDATE pools SET ${BUCKETS.map((b) => `${b} = ?`).join(", ")}, journal_seq = ?, updated_at = ? WHERE id = ? AND journal_seq < ?`)
        .bind(...BUCKETS.map((b) => after[b]), last.seq, new Date().toISOString(), meta.poolId, last.seq),
    ]);
    store.markMirrored(last.seq);
    written += entries.length;
  }
}
