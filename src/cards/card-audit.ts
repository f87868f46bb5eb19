/**
 * A card's audit trail in D1 (`card_audit`, written by its Durable Object, one row per mirror flush):
 * reading it and checking its hash chain (durable-objects/card-chain.ts) without the object. The
 * object keeps the same chain; reconciliation compares the two heads (src/reconciliation/check.cards.ts).
 */
import { CARD_GENESIS, txnHash } from "../../durable-objects/card-chain";
import type { CardTxn } from "../../durable-objects/card-types";

/** Rows read per query while verifying, so a long trail is never held in memory at once. */
const PAGE = 500;

interface TrailRow {
  card_id: string;
  seq: number;
  org: string;
  first_seq: number;
  txns: string;
  prev_hash: string;
  hash: string;
}

export interface TrailVerdict {
  valid: boolean;
  txns_checked: number;
  last_seq: number;
  last_hash: string;
  /** The first transaction where the trail breaks, and why. */
  first_break: { seq: number; reason: "seq_gap" | "prev_hash_mismatch" | "hash_mismatch" | "not_json"; detail: string } | null;
}

/**
 * Recomputes the card's trail from the genesis hash in sequence order and stops at the first break: a
 * flush row missing (seq gap), rows out of order or replaced (prev_hash), an edited transaction (hash).
 */
export async function verifyCardTrail(db: D1Database, org: string, cardId: string): Promise<TrailVerdict> {
  let prev = { seq: 0, hash: CARD_GENESIS };
  let checked = 0;
  const verdict = (first_break: TrailVerdict["first_break"]): TrailVerdict => ({
    valid: first_break === null,
    txns_checked: checked,
    last_seq: prev.seq,
    last_hash: prev.hash,
    first_break,
  });
  for (let after = -1; ; ) {
    const { results } = await db
      .prepare("SELECT * FROM card_audit WHERE card_id = ? AND seq > ? ORDER BY seq LIMIT ?")
      .bind(cardId, after, PAGE)
      .all<TrailRow>();
    for (const row of results) {
      if (row.org !== org) continue;
      if (row.first_seq !== prev.seq + 1)
        return verdict({ seq: row.first_seq, reason: "seq_gap", detail: `Expected transaction ${prev.seq + 1}, found ${row.first_seq}` });
      if (row.prev_hash !== prev.hash)
        return verdict({ seq: row.first_seq, reason: "prev_hash_mismatch", detail: `prev_hash does not match transaction ${prev.seq}` });
      let txns: CardTxn[];
      try {
        txns = JSON.parse(row.txns) as CardTxn[];
      } catch {
        return verdict({ seq: row.first_seq, reason: "not_json", detail: "The flush's transactions are not JSON" });
      }
      for (const t of txns) {
        if (t.seq !== prev.seq + 1) return verdict({ seq: t.seq, reason: "seq_gap", detail: `Expected transaction ${prev.seq + 1}, found ${t.seq}` });
        const hash = txnHash(prev.hash, cardId, org, t);
        if (hash !== t.hash) return verdict({ seq: t.seq, reason: "hash_mismatch", detail: `Transaction ${t.seq} does not match its hash` });
        checked++;
        prev = { seq: t.seq, hash };
      }
      if (row.seq !== prev.seq || row.hash !== prev.hash)
        return verdict({ seq: row.seq, reason: "hash_mismatch", detail: `The flush row's head is not its last transaction's` });
    }
    if (results.length < PAGE) return verdict(null);
    after = results.at(-1)!.seq;
  }
}

/** The transaction kinds of a card's D1 trail, in order (tests, support). */
export async function trailKinds(db: D1Database, cardId: string): Promise<string[]> {
  const { results } = await db.prepare("SELECT txns FROM card_audit WHERE card_id = ? ORDER BY seq").bind(cardId).all<{ txns: string }>();
  return results.flatMap((r) => (JSON.parse(r.txns) as CardTxn[]).map((t) => t.kind));
}
