import { appendAudit, type AuditInput } from "../src/audit/audit";
import type { CardStore } from "./card-store";
import type { CardState, CardTxn, Redemption } from "./card-types";

const PAGE = 200;

const ACTIONS: Record<CardTxn["kind"], string> = {
  issue: "card.issued",
  credit: "card.credited",
  redeem: "card.redeemed",
  hold: "card.hold_placed",
  capture: "card.hold_captured",
  void: "card.hold_voided",
  refund: "card.refunded",
  expire: "card.expired",
  reverse: "card.reversed",
  freeze: "card.frozen",
  unfreeze: "card.unfrozen",
};

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The audit event of a card transaction: balance before and after, actor, reference; never a code. */
export function txnAudit(cardId: string, t: CardTxn): AuditInput {
  const action = t.kind === "expire" && t.redemption_id ? "card.hold_expired" : ACTIONS[t.kind];
  return {
    actor: t.actor,
    action,
    entityType: "card",
    entityId: cardId,
    before: t.before,
    after: { ...t.after, amount: t.amount, seq: t.seq, operation_id: t.op_id, redemption_id: t.redemption_id, bucket_id: t.bucket_id, reference: t.reference },
  };
}

/** What each pool still commits for the card's bonus credits (credited, less what a reversal gave back), as JSON. */
function creditsByPool(state: CardState): string | null {
  const byPool = new Map<string, number>();
  for (const k of state.buckets) if (k.kind === "bonus" && k.pool_id) byPool.set(k.pool_id, (byPool.get(k.pool_id) ?? 0) + k.amount - k.reversed);
  return byPool.size ? JSON.stringify([...byPool].map(([pool_id, committed]) => ({ pool_id, committed }))) : null;
}

function redemptionRow(org: string, cardId: string, currency: string, r: Redemption) {
  return {
    org,
    id: r.id,
    card_id: cardId,
    reference: r.reference,
    status: r.status,
    currency,
    requested: r.requested,
    amount: r.amount,
    captured: r.captured,
    refunded: r.refunded,
    hold_expires_at: iso(r.hold_expires_at),
    created_by: r.actor,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    seq: r.seq,
  };
}

/**
 * Copies what D1 lacks: the card row's status and balance, the redemptions changed since the
 * watermark, and one audit event per transaction, in one D1 transaction. The writes are
 * conditional on sequence numbers, so a repeated or overlapping drain writes nothing twice and
 * never puts an older state over a newer one; if D1 fails, the watermark stays and the alarm retries.
 */
export async function mirrorCard(db: D1Database, store: CardStore, stateNow: () => CardState): Promise<number> {
  let written = 0;
  for (;;) {
    const meta = store.meta();
    if (!meta || meta.seq <= meta.mirrored_seq) return written;
    const txns = store.txnsAfter(meta.mirrored_seq, PAGE);
    const last = txns.at(-1)!.seq;
    const changed = store.redemptionsChangedAfter(meta.mirrored_seq).filter((r) => r.seq <= last);
    // Read with the watermark, synchronously: the state written is exactly the state at `meta.seq`.
    const state = stateNow();
    const b = state.balance;
    const baseReversed = state.buckets.find((k) => k.kind === "base")?.reversed ?? 0;
    const statements = [
      db
        .prepare(
          `UPDATE cards SET status = ?, available = ?, balance = ?, pending = ?, redeemed = ?, expired = ?, reversed = ?, base_reversed = ?, credited = ?, credits = ?,
           txn_seq = ?, updated_at = ? WHERE id = ? AND txn_seq < ?`,
        )
        .bind(
          state.status,
          b.available,
          b.available,
          b.pending,
          b.redeemed,
          b.expired,
          b.reversed,
          baseReversed,
          b.credited,
          creditsByPool(state),
          meta.seq,
          new Date().toISOString(),
          meta.card_id,
          meta.seq,
        ),
    ];
    if (changed.length > 0) {
      statements.push(
        db
          .prepare(
            `INSERT INTO redemptions (org, id, card_id, reference, status, currency, requested, amount, captured, refunded, hold_expires_at, created_by, created_at, updated_at, seq)
           SELECT value ->> 'org', value ->> 'id', value ->> 'card_id', value ->> 'reference', value ->> 'status', value ->> 'currency', value ->> 'requested',
                  value ->> 'amount', value ->> 'captured', value ->> 'refunded', value ->> 'hold_expires_at', value ->> 'created_by', value ->> 'created_at',
                  value ->> 'updated_at', value ->> 'seq'
           FROM json_each(?) WHERE true
           ON CONFLICT (org, id) DO UPDATE SET status = excluded.status, amount = excluded.amount, captured = excluded.captured, refunded = excluded.refunded,
             updated_at = excluded.updated_at, seq = excluded.seq WHERE excluded.seq > redemptions.seq`,
          )
          .bind(JSON.stringify(changed.map((r) => redemptionRow(meta.org, meta.card_id, meta.currency, r)))),
      );
    }
    await appendAudit(
      db,
      meta.org,
      txns.map((t) => txnAudit(meta.card_id, t)),
      statements,
    );
    store.markMirrored(last);
    written += txns.length;
  }
}
