/**
 * Stored-value cards, with the deliveries page that issued them: every card's mirrored balance
 * must add up, issued + credited = redeemed + pending + available + expired + reversed, and no
 * part may be negative. A card whose ledger (its Durable Object) wrote a balance that does not add
 * up, or whose mirror was written by something else, becomes a `ledger_drift` exception. A card D1
 * voided before its ledger began (never touched) has no balance columns to check.
 */
import type { Range } from "./check.deliveries";
import type { Finding } from "./types";

interface Row {
  id: string;
  delivery_id: string;
  batch_id: string;
  pool_id: string;
  currency: string;
  initial_amount: number;
  credited: number;
  available: number;
  pending: number;
  redeemed: number;
  expired: number;
  reversed: number;
  status: string;
}

export async function cardLedgerFindings(db: D1Database, r: Range): Promise<Finding[]> {
  const { results } = await db
    .prepare(
      `SELECT c.id, d.id AS delivery_id, d.batch_id, d.pool_id, c.currency, c.initial_amount, c.credited, c.available, c.pending, c.redeemed,
            c.expired, c.reversed, c.status
     FROM deliveries d JOIN cards c ON c.delivery_id = d.id
     WHERE d.org = ?1 AND d.id > ?2 AND d.id <= ?3 AND d.card_id IS NOT NULL AND NOT (c.status = 'void' AND c.txn_seq = 0) AND (
       c.initial_amount + c.credited <> c.available + c.pending + c.redeemed + c.expired + c.reversed
       OR MIN(c.available, c.pending, c.redeemed, c.expired, c.reversed, c.credited) < 0)`,
    )
    .bind(r.org, r.after, r.last)
    .all<Row>();
  return results.map((c): Finding => {
    const total = c.available + c.pending + c.redeemed + c.expired + c.reversed;
    return {
      kind: "ledger_drift",
      entityType: "card",
      entityId: c.id,
      batchId: c.batch_id,
      poolId: c.pool_id,
      currency: c.currency,
      expected: c.initial_amount + c.credited,
      actual: total,
      detail:
        `Card ${c.id} was issued ${c.initial_amount} and credited ${c.credited} ${c.currency}, but its balance adds up to ${total} ` +
        `(available ${c.available}, pending ${c.pending}, redeemed ${c.redeemed}, expired ${c.expired}, reversed ${c.reversed})`,
      data: { check: "card_balance", delivery_id: c.delivery_id, status: c.status },
      facts: {
        issued: c.initial_amount,
        credited: c.credited,
        available: c.available,
        pending: c.pending,
        redeemed: c.redeemed,
        expired: c.expired,
        reversed: c.reversed,
      },
    };
  });
}
