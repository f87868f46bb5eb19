/**
 * The card DO's own SQLite tables and the statements on them. Synchronous: callers run it inside
 * `transactionSync`, so a balance is read, checked and written with no await in between.
 */
import type { Bucket, CardBalance, CardTxn, Part, Redemption } from "./card-types";

export const SCHEMA = `
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
  constructor(private readonly sql: SqlStorage) {
    sql.exec(SCHEMA);
  }

  meta(): CardMeta | null {
    return (this.sql.exec<CardMeta & Row>("SELECT * FROM card WHERE id = 1").toArray()[0] as CardMeta | undefined) ?? null;
  }

  insertMeta(m: Omit<CardMeta, "seq" | "mirrored_seq">): void {
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
  }

  setFlags(frozen: number, reversed: number): void {
    this.sql.exec("UPDATE card SET frozen = ?, reversed = ? WHERE id = 1", frozen, reversed);
  }

  buckets(): Bucket[] {
    return this.sql.exec<Bucket & Row>("SELECT * FROM buckets ORDER BY ord").toArray() as Bucket[];
  }

  saveBuckets(buckets: Bucket[]): void {
    for (const b of buckets) {
      this.sql.exec(
        `INSERT INTO buckets (${BUCKET_COLS.join(", ")}) VALUES (${BUCKET_COLS.map(() => "?").join(", ")})
         ON CONFLICT (bucket_id) DO UPDATE SET remaining = excluded.remaining, held = excluded.held, spent = excluded.spent,
           expired = excluded.expired, reversed = excluded.reversed, state = excluded.state`,
        ...BUCKET_COLS.map((c) => b[c]),
      );
    }
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
    return this.sql.exec<Row>("SELECT * FROM redemptions WHERE status = 'pending' ORDER BY hold_expires_at").toArray().map(toRedemption);
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
  }

  /** Redemptions changed by transactions after `seq` (for the D1 mirror). */
  redemptionsChangedAfter(seq: number): Redemption[] {
    return this.sql.exec<Row>("SELECT * FROM redemptions WHERE seq > ? ORDER BY seq", seq).toArray().map(toRedemption);
  }

  /** Appends a transaction; returns its sequence number (also the card's new `seq`). */
  appendTxn(t: Omit<CardTxn, "seq">): number {
    const row = this.sql
      .exec<{ seq: number }>(
        `INSERT INTO txns (op_id, kind, amount, redemption_id, bucket_id, before, after, actor, reference, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
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
      )
      .one();
    this.sql.exec("UPDATE card SET seq = ? WHERE id = 1", row.seq);
    return row.seq;
  }

  txns(limit: number, beforeSeq = Number.MAX_SAFE_INTEGER): CardTxn[] {
    return this.sql.exec<Row>("SELECT * FROM txns WHERE seq < ? ORDER BY seq DESC LIMIT ?", beforeSeq, limit).toArray().map(toTxn);
  }

  txnsAfter(seq: number, limit: number): CardTxn[] {
    return this.sql.exec<Row>("SELECT * FROM txns WHERE seq > ? ORDER BY seq LIMIT ?", seq, limit).toArray().map(toTxn);
  }

  markMirrored(seq: number): void {
    this.sql.exec("UPDATE card SET mirrored_seq = MAX(mirrored_seq, ?) WHERE id = 1", seq);
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
