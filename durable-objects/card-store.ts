/**
 * The card DO's own SQLite tables and the statements on them. Synchronous: callers run it inside
 * `transactionSync`, so a balance is read, checked and written with no await in between.
 */
import { CARD_GENESIS, txnHash } from "./card-chain";
import type { Bucket, CardBalance, CardTxn, Part, Redemption } from "./card-types";
import { migrate, type SqlMigration } from "./sql-migrations";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS card (
  id INTEGER PRIMARY KEY CHECK (id = 1), card_id TEXT NOT NULL, org TEXT NOT NULL, currency TEXT NOT NULL,
  expires_at INTEGER, frozen INTEGER NOT NULL, reversed INTEGER NOT NULL, created_at INTEGER NOT NULL,
  seq INTEGER NOT NULL, mirrored_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS buckets (
  bucket_id TEXT PRIMARY KEY, ord INTEGER NOT NULL, kind TEXT NOT NULL, amount INTEGER NOT NULL, remaining INTEGER NOT NULL,
  held INTEGER NOT NULL, spent INTEGER NOT NULL, expired INTEGER NOT NULL, reversed INTEGER NOT NULL, expires_at INTEGER,
  state TEXT NOT NULL, pool_id TEXT, reason TEXT, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS redemptions (
  id TEXT PRIMARY KEY, reference TEXT NOT NULL UNIQUE, status TEXT NOT NULL, requested INTEGER NOT NULL, amount INTEGER NOT NULL,
  captured INTEGER NOT NULL, refunded INTEGER NOT NULL, hold_expires_at INTEGER, parts TEXT NOT NULL, actor TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS redemptions_pending ON redemptions (status, hold_expires_at);
CREATE INDEX IF NOT EXISTS redemptions_seq ON redemptions (seq);
CREATE TABLE IF NOT EXISTS txns (
  seq INTEGER PRIMARY KEY, op_id TEXT NOT NULL, kind TEXT NOT NULL, amount INTEGER NOT NULL, redemption_id TEXT, bucket_id TEXT,
  before TEXT NOT NULL, after TEXT NOT NULL, actor TEXT NOT NULL, reference TEXT, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ops (op_id TEXT PRIMARY KEY, args TEXT NOT NULL, result TEXT NOT NULL, created_at INTEGER NOT NULL);
`;

/**
 * The card's tables, one append-only migration per change (sql-migrations.ts refuses an edited past
 * one). Version 1 is the schema cards had before they were versioned (CREATE IF NOT EXISTS, so it
 * adopts them as they are); version 2 chains the transactions (card-chain.ts): a card that had
 * transactions before it gets their hashes on its next append (`CardStore.head`).
 */
export const CARD_MIGRATIONS: readonly SqlMigration[] = [
  { version: 1, name: "card, buckets, redemptions, transactions, operations", sql: SCHEMA },
  { version: 2, name: "hash chain of the transactions", sql: "ALTER TABLE txns ADD COLUMN hash TEXT; ALTER TABLE card ADD COLUMN head_hash TEXT;" },
];

export interface CardMeta {
  card_id: string;
  org: string;
  currency: string;
  expires_at: number | null;
  frozen: number;
  reversed: number;
  created_at: number;
  seq: number;
  mirrored_seq: number;
  head_hash: string | null;
}

type Row = Record<string, SqlStorageValue>;
const BUCKET_COLS = [
  "bucket_id",
  "ord",
  "kind",
  "amount",
  "remaining",
  "held",
  "spent",
  "expired",
  "reversed",
  "expires_at",
  "state",
  "pool_id",
  "reason",
  "created_at",
] as const;

function toRedemption(r: Row): Redemption {
  return { ...(r as unknown as Redemption), parts: JSON.parse(String(r.parts)) as Part[] };
}

export class CardStore {
  private readonly sql: SqlStorage;
  /**
   * The card row, its buckets and its pending redemptions as last read or written by this instance
   * (undefined: not loaded). Every write to those tables goes through this class, so they are kept
   * up to date here instead of being read again by every statement of an operation (an operation
   * used to read the card row about ten times); `transaction` drops them when a transaction rolls
   * back. Callers get copies, never the cached objects.
   */
  private cachedMeta: CardMeta | null | undefined;
  private cachedBuckets: Bucket[] | undefined;
  private cachedPending: Redemption[] | undefined;
  /**
   * What the mirror sends next, kept from the writes themselves: the transactions appended and the
   * redemptions saved since the card row was last read from storage (`coveredFrom`, its seq then),
   * less what D1 has (`markMirrored`). Reading the card row again (after `forget`) starts them over.
   */
  private coveredFrom: number | undefined;
  private appended: CardTxn[] = [];
  private saved = new Map<string, Redemption>();
  /**
   * How far D1 has the card, as this instance knows it. Persisted lazily (with the next transaction
   * appended, `appendTxn`) instead of in a storage write of its own after every flush; an
   * instance that starts again asks D1 (`card_audit`) before its first flush, and every mirror write is
   * idempotent, so a stale persisted watermark never writes anything twice.
   */
  private mirrored = 0;

  constructor(private readonly storage: DurableObjectStorage) {
    this.sql = storage.sql;
    migrate(storage, CARD_MIGRATIONS);
  }

  /** Runs `fn` in one storage transaction; if it throws (and so rolls back), the cached rows are dropped. */
  transaction<T>(fn: () => T): T {
    try {
      return this.storage.transactionSync(fn);
    } catch (err) {
      this.forget();
      throw err;
    }
  }

  /** Drops the cached rows: the next read goes to storage. */
  forget(): void {
    this.coveredFrom = undefined;
    this.cachedMeta = undefined;
    this.cachedBuckets = undefined;
    this.cachedPending = undefined;
  }

  /**
   * The card's sequence number when this instance first read it (0 for a card not yet initialised):
   * what D1 most likely has after an object starts again (the previous instance flushed up to it), a
   * better guess than the stored watermark, which lags by at least one flush (card-mirror.ts).
   */
  seqAtStart: number | undefined;

  meta(): CardMeta | null {
    if (this.cachedMeta === undefined) {
      this.cachedMeta = (this.sql.exec<CardMeta & Row>("SELECT * FROM card WHERE id = 1").toArray()[0] as CardMeta | undefined) ?? null;
      this.seqAtStart ??= this.cachedMeta?.seq ?? 0;
      this.coveredFrom = this.cachedMeta?.seq ?? 0;
      this.appended = [];
      this.saved = new Map();
    }
    const m = this.cachedMeta;
    return m ? { ...m, mirrored_seq: Math.max(m.mirrored_seq, this.mirrored) } : null;
  }

  insertMeta(m: Omit<CardMeta, "seq" | "mirrored_seq" | "head_hash">): void {
    this.sql.exec(
      "INSERT INTO card (id, card_id, org, currency, expires_at, frozen, reversed, created_at, seq, mirrored_seq) VALUES (1, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
      m.card_id,
      m.org,
      m.currency,
      m.expires_at,
      m.frozen,
      m.reversed,
      m.created_at,
    );
    this.cachedMeta = undefined;
  }

  setFlags(frozen: number, reversed: number): void {
    const m = this.cachedMeta;
    if (m && m.frozen === frozen && m.reversed === reversed) return;
    this.sql.exec("UPDATE card SET frozen = ?, reversed = ? WHERE id = 1", frozen, reversed);
    if (m) Object.assign(m, { frozen, reversed });
  }

  buckets(): Bucket[] {
    this.cachedBuckets ??= this.sql.exec<Bucket & Row>("SELECT * FROM buckets ORDER BY ord").toArray() as Bucket[];
    return this.cachedBuckets.map((b) => ({ ...b }));
  }

  /** Writes the buckets that differ from what storage has. */
  saveBuckets(buckets: Bucket[]): void {
    const stored = new Map((this.cachedBuckets ?? []).map((b) => [b.bucket_id, b]));
    const same = (a: Bucket, b: Bucket | undefined) => b !== undefined && BUCKET_COLS.every((c) => a[c] === b[c]);
    for (const b of buckets) {
      if (this.cachedBuckets && same(b, stored.get(b.bucket_id))) continue;
      this.sql.exec(
        `INSERT INTO buckets (${BUCKET_COLS.join(", ")}) VALUES (${BUCKET_COLS.map(() => "?").join(", ")})
         ON CONFLICT (bucket_id) DO UPDATE SET remaining = excluded.remaining, held = excluded.held, spent = excluded.spent,
           expired = excluded.expired, reversed = excluded.reversed, state = excluded.state`,
        ...BUCKET_COLS.map((c) => b[c]),
      );
    }
    this.cachedBuckets = buckets.map((b) => ({ ...b }));
  }

  redemption(id: string): Redemption | null {
    const r = this.sql.exec<Row>("SELECT * FROM redemptions WHERE id = ?", id).toArray()[0];
    return r ? toRedemption(r) : null;
  }

  redemptionByReference(reference: string): Redemption | null {
    const r = this.sql.exec<Row>("SELECT * FROM redemptions WHERE reference = ?", reference).toArray()[0];
    return r ? toRedemption(r) : null;
  }

  pendingRedemptions(): Redemption[] {
    this.cachedPending ??= this.sql.exec<Row>("SELECT * FROM redemptions WHERE status = 'pending' ORDER BY hold_expires_at").toArray().map(toRedemption);
    return this.cachedPending.map((r) => ({ ...r, parts: r.parts.map((p) => ({ ...p })) }));
  }

  saveRedemption(r: Redemption): void {
    this.sql.exec(
      `INSERT INTO redemptions (id, reference, status, requested, amount, captured, refunded, hold_expires_at, parts, actor, created_at, updated_at, seq)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, amount = excluded.amount, captured = excluded.captured,
         refunded = excluded.refunded, parts = excluded.parts, updated_at = excluded.updated_at, seq = excluded.seq`,
      r.id,
      r.reference,
      r.status,
      r.requested,
      r.amount,
      r.captured,
      r.refunded,
      r.hold_expires_at,
      JSON.stringify(r.parts),
      r.actor,
      r.created_at,
      r.updated_at,
      r.seq,
    );
    if (this.coveredFrom !== undefined) this.saved.set(r.id, { ...r, parts: r.parts.map((p) => ({ ...p })) });
    // A redemption that is or was pending changes the pending set; a capture at checkout leaves it as it was.
    if (r.status === "pending" || this.cachedPending?.some((p) => p.id === r.id)) this.cachedPending = undefined;
  }

  /** Redemptions changed by transactions after `seq` (for the D1 mirror). */
  redemptionsChangedAfter(seq: number): Redemption[] {
    if (this.coveredFrom !== undefined && seq >= this.coveredFrom) {
      return [...this.saved.values()].filter((r) => r.seq > seq).sort((a, b) => a.seq - b.seq);
    }
    return this.sql.exec<Row>("SELECT * FROM redemptions WHERE seq > ? ORDER BY seq", seq).toArray().map(toRedemption);
  }

  /**
   * Appends a transaction, chained to the one before (card-chain.ts); returns its sequence number
   * (also the card's new `seq`).
   */
  appendTxn(t: Omit<CardTxn, "seq" | "hash">): number {
    const meta = this.meta()!;
    const seq = meta.seq + 1;
    const hash = txnHash(this.head(meta), meta.card_id, meta.org, { ...t, seq });
    this.sql.exec(
      `INSERT INTO txns (seq, op_id, kind, amount, redemption_id, bucket_id, before, after, actor, reference, created_at, hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      seq,
      t.op_id,
      t.kind,
      t.amount,
      t.redemption_id,
      t.bucket_id,
      JSON.stringify(t.before),
      JSON.stringify(t.after),
      t.actor,
      t.reference,
      t.created_at,
      hash,
    );
    // The mirror watermark rides along (see `mirrored`): no statement of its own.
    const mirrored = Math.max(meta.mirrored_seq, this.mirrored);
    this.sql.exec("UPDATE card SET seq = ?, head_hash = ?, mirrored_seq = ? WHERE id = 1", seq, hash, mirrored);
    if (this.cachedMeta) Object.assign(this.cachedMeta, { seq, head_hash: hash, mirrored_seq: mirrored });
    if (this.coveredFrom !== undefined) {
      // In the columns' order, as a row read back would have it (the trail row's JSON is the same either way).
      const { op_id, kind, amount, redemption_id, bucket_id, before, after, actor, reference, created_at } = t;
      this.appended.push({ seq, op_id, kind, amount, redemption_id, bucket_id, before, after, actor, reference, created_at, hash });
    }
    return seq;
  }

  /** The hash of transaction `seq` (the genesis hash for 0). */
  hashAt(seq: number): string {
    if (seq === 0) return CARD_GENESIS;
    return this.sql.exec<{ hash: string }>("SELECT hash FROM txns WHERE seq = ?", seq).one().hash;
  }

  /** The chain's head; a card whose transactions predate the chain gets their hashes now, once. */
  head(meta: CardMeta): string {
    if (meta.head_hash !== null || meta.seq === 0) return meta.head_hash ?? CARD_GENESIS;
    let prev = CARD_GENESIS;
    for (const t of this.sql.exec<Row>("SELECT * FROM txns ORDER BY seq").toArray().map(toTxn)) {
      prev = txnHash(prev, meta.card_id, meta.org, t);
      this.sql.exec("UPDATE txns SET hash = ? WHERE seq = ?", prev, t.seq);
    }
    return prev;
  }

  /** Recomputes the chain from the genesis hash: the first transaction whose stored hash differs, if any. */
  brokenChainAt(): number | null {
    const meta = this.meta();
    if (!meta || meta.head_hash === null) return null;
    let prev = CARD_GENESIS;
    for (const t of this.sql.exec<Row>("SELECT * FROM txns ORDER BY seq").toArray().map(toTxn)) {
      prev = txnHash(prev, meta.card_id, meta.org, t);
      if (prev !== t.hash) return t.seq;
    }
    return prev === meta.head_hash ? null : meta.seq;
  }

  txns(limit: number, beforeSeq = Number.MAX_SAFE_INTEGER): CardTxn[] {
    return this.sql.exec<Row>("SELECT * FROM txns WHERE seq < ? ORDER BY seq DESC LIMIT ?", beforeSeq, limit).toArray().map(toTxn);
  }

  txnsAfter(seq: number, limit: number): CardTxn[] {
    if (this.coveredFrom !== undefined && seq >= this.coveredFrom) return this.appended.filter((t) => t.seq > seq).slice(0, limit);
    return this.sql.exec<Row>("SELECT * FROM txns WHERE seq > ? ORDER BY seq LIMIT ?", seq, limit).toArray().map(toTxn);
  }

  /** D1 has the card up to `seq` (kept in memory; `appendTxn` writes it with the next transaction). */
  markMirrored(seq: number): void {
    this.mirrored = Math.max(this.mirrored, seq);
    this.appended = this.appended.filter((t) => t.seq > this.mirrored);
    for (const [id, r] of this.saved) if (r.seq <= this.mirrored) this.saved.delete(id);
  }

  findOp(opId: string): { args: string; result: string } | undefined {
    return this.sql.exec<{ args: string; result: string }>("SELECT args, result FROM ops WHERE op_id = ?", opId).toArray()[0];
  }

  saveOp(opId: string, args: string, result: unknown): void {
    this.sql.exec("INSERT INTO ops (op_id, args, result, created_at) VALUES (?, ?, ?, ?)", opId, args, JSON.stringify(result), Date.now());
  }
}

function toTxn(r: Row): CardTxn {
  return { ...(r as unknown as CardTxn), before: JSON.parse(String(r.before)) as CardBalance, after: JSON.parse(String(r.after)) as CardBalance };
}
