import { appendAudit, type AuditInput } from "../src/audit/audit";
import { kickDispatch, outboxRows, outboxStatement } from "../src/webhooks/outbox";
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
 * Transactions that people decide (finance credits and reverses, support freezes) also go to the
 * org's audit chain (`audit_events`), where an auditor reads the org's decisions. Checkout and expiry,
 * the volume, are in the card's own chain only (`card_audit`, one row per flush): 4 D1 rows a
 * transaction in the org chain would be most of what a redemption costs.
 */
const ORG_CHAIN_KINDS: ReadonlySet<CardTxn["kind"]> = new Set(["credit", "freeze", "unfreeze", "reverse"]);

/** How far D1's audit trail of the card goes (0 when it has none). */
export async function auditedSeq(db: D1Database, cardId: string): Promise<number> {
  const row = await db.prepare("SELECT MAX(seq) AS seq FROM card_audit WHERE card_id = ?").bind(cardId).first<{ seq: number | null }>();
  return row?.seq ?? 0;
}

/** The earliest expiry of a bonus bucket that still holds value (GET /v1/cards?expiring_before=). */
function bonusExpiry(state: CardState): string | null {
  const times = state.buckets.filter((k) => k.kind === "bonus" && k.state === "active" && k.expires_at !== null && k.remaining + k.pending > 0);
  return times.length ? iso(Math.min(...times.map((k) => k.expires_at!))) : null;
}

/**
 * The card row's statements. Status and credits are set by statements of their own, only when they
 * differ: a column in an UPDATE's SET list rewrites the partial indexes that name it (`cards_due`,
 * `cards_credited`), so the balance update, which names none, writes the row alone.
 */
function cardRowStatements(db: D1Database, cardId: string, seq: number, state: CardState): D1PreparedStatement[] {
  const b = state.balance;
  const baseReversed = state.buckets.find((k) => k.kind === "base")?.reversed ?? 0;
  const credits = creditsByPool(state);
  return [
    db.prepare("UPDATE cards SET status = ?2 WHERE id = ?1 AND txn_seq < ?3 AND status <> ?2").bind(cardId, state.status, seq),
    ...(credits === null ? [] : [db.prepare("UPDATE cards SET credits = ?2 WHERE id = ?1 AND txn_seq < ?3 AND credits IS NOT ?2").bind(cardId, credits, seq)]),
    db
      .prepare(
        `UPDATE cards SET available = ?2, balance = ?2, pending = ?3, redeemed = ?4, expired = ?5, reversed = ?6, base_reversed = ?7, credited = ?8,
           bonus_expires_at = ?9, txn_seq = ?10, updated_at = ?11 WHERE id = ?1 AND txn_seq < ?10`,
      )
      .bind(cardId, b.available, b.pending, b.redeemed, b.expired, b.reversed, baseReversed, b.credited, bonusExpiry(state), seq, new Date().toISOString()),
  ];
}

/**
 * The page's trail row. With a known watermark the page follows D1's trail head, and the row is
 * written as it is unless D1 has it already (a repeated flush: then its outbox rows are not written again either). Without (an object that has just
 * started: its stored watermark may be one flush behind D1), D1 picks the part of the page after its
 * trail head, as long as that head is within the page: the row then starts there, chained to the
 * hash of the transaction at the head (the page carries it, or `prevHash` for the page's start).
 */
function trailStatement(
  db: D1Database,
  org: string,
  cardId: string,
  txns: CardTxn[],
  prevHash: string,
  createdAt: string,
  known: boolean,
): D1PreparedStatement {
  const first = txns[0]!.seq;
  const last = txns.at(-1)!;
  if (known) {
    return db
      .prepare(
        `INSERT INTO card_audit (card_id, seq, org, first_seq, txns, prev_hash, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (card_id, seq) DO NOTHING`,
      )
      .bind(cardId, last.seq, org, first, JSON.stringify(txns), prevHash, last.hash, createdAt);
  }
  return db
    .prepare(
      `INSERT INTO card_audit (card_id, seq, org, first_seq, txns, prev_hash, hash, created_at)
       SELECT ?1, ?2, ?3, head.w + 1,
              (SELECT json_group_array(json(t.value)) FROM json_each(?5) t WHERE t.value ->> 'seq' > head.w),
              CASE WHEN head.w = ?4 - 1 THEN ?6 ELSE (SELECT t.value ->> 'hash' FROM json_each(?5) t WHERE t.value ->> 'seq' = head.w) END,
              ?7, ?8
       FROM (SELECT COALESCE(MAX(seq), 0) AS w FROM card_audit WHERE card_id = ?1) head
       WHERE head.w >= ?4 - 1 AND head.w < ?2
       ON CONFLICT (card_id, seq) DO NOTHING`,
    )
    .bind(cardId, last.seq, org, first, JSON.stringify(txns), prevHash, last.hash, createdAt);
}

/**
 * Copies what D1 lacks, one page of transactions at a time, in one D1 transaction each: the card
 * row's status and balance, the redemptions changed, the page's audit trail row (`card_audit`, with
 * the transactions and their hash-chain links), the webhook outbox rows of the events that have a
 * webhook type, and the org audit events of the transactions people decide (ORG_CHAIN_KINDS). The
 * writes are conditional on sequence numbers, so a repeated or overlapping drain writes nothing twice
 * and never puts an older state over a newer one; if D1 fails, the watermark stays and the alarm retries.
 *
 * `known`: whether the store's watermark is D1's (false for an object that has just started: the
 * stored watermark lags at least the last flush, which it did not wait to store, and more for a card
 * whose object starts for every operation). Then the page starts at the card's sequence when the
 * object started (`seqAtStart`: the previous instance's last flush most likely went through) and D1
 * itself finds where its trail ends within the page (`trailStatement`) instead of being asked first,
 * so a started object's first flush costs no extra D1 query; only if D1's trail head is not within
 * the page (that flush failed) is it asked how far its trail goes. A page with transactions for the
 * org chain asks first (that chain has no such guard).
 * Returns whether the watermark is now D1's.
 */
export async function mirrorCard(db: D1Database, store: CardStore, stateNow: () => CardState, known: boolean): Promise<boolean> {
  for (;;) {
    const meta = store.meta();
    if (!meta || meta.seq <= meta.mirrored_seq) return known;
    store.head(meta); // a card whose transactions predate the chain gets their hashes first
    // A started object guesses that D1 has what the previous instance had when it stopped (its last
    // flush went through); the trail statement checks the guess, and asks D1 below when it was wrong.
    // Nothing happened since it started (a read woke it): nothing to guess with, so ask.
    const guess = store.seqAtStart ?? 0;
    if (!known && guess >= meta.seq) {
      store.markMirrored(await auditedSeq(db, meta.card_id));
      known = true;
      continue;
    }
    const from = known ? meta.mirrored_seq : Math.max(meta.mirrored_seq, guess);
    const txns = store.txnsAfter(from, PAGE);
    const first = txns[0]!.seq;
    const last = txns.at(-1)!.seq;
    const events = txns.map((t) => txnAudit(meta.card_id, t));
    const decided = events.filter((_, i) => ORG_CHAIN_KINDS.has(txns[i]!.kind));
    if (!known && decided.length > 0) {
      store.markMirrored(await auditedSeq(db, meta.card_id));
      known = true;
      continue;
    }
    const changed = store.redemptionsChangedAfter(from).filter((r) => r.seq <= last);
    // Read with the watermark, synchronously: the state written is exactly the state at `meta.seq`.
    const statements = cardRowStatements(db, meta.card_id, meta.seq, stateNow());
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
    const createdAt = new Date().toISOString();
    // The outbox goes first: its rows are those of transactions after D1's trail head, so a page D1 has already is not announced twice.
    const rows = txns.flatMap((t, i) => outboxRows([events[i]!], createdAt).map((r) => ({ ...r, seq: t.seq })));
    const outbox = outboxStatement(db, meta.org, rows, { cardId: meta.card_id, fromSeq: first });
    const outboxAt = outbox ? statements.push(outbox) - 1 : -1;
    const trailAt = statements.length;
    statements.push(trailStatement(db, meta.org, meta.card_id, txns, store.hashAt(first - 1), createdAt, known));
    const results = await appendAudit(db, meta.org, decided, statements);
    const trailWritten = (results[trailAt]?.meta.changes ?? 0) > 0;
    if (!trailWritten && !known) {
      // D1's trail is not where this page can follow it (it never is, short of an edited trail): ask.
      store.markMirrored(await auditedSeq(db, meta.card_id));
      known = true;
      continue;
    }
    if (outboxAt >= 0 && (results[outboxAt]?.meta.changes ?? 0) > 0) await kickDispatch(meta.org);
    store.markMirrored(last);
    known = true;
  }
}
