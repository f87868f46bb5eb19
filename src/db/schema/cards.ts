/** Redemptions of stored-value cards: the D1 mirror of each card Durable Object's redemptions. */
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * One row per redemption, written by the card's Durable Object after each change (`seq` orders
 * those writes). The table is WITHOUT ROWID (edited into the migration: drizzle cannot say it), so
 * the primary key is the row itself: a redemption costs two D1 rows, the row and `redemptions_card`.
 */
export const redemptions = sqliteTable(
  "redemptions",
  {
    org: text("org").notNull(),
    id: text("id").notNull(),
    cardId: text("card_id").notNull(),
    reference: text("reference").notNull(),
    status: text("status", { enum: ["pending", "captured", "voided", "expired", "refunded"] }).notNull(),
    currency: text("currency").notNull(),
    requested: integer("requested").notNull(),
    amount: integer("amount").notNull(),
    captured: integer("captured").notNull(),
    refunded: integer("refunded").notNull(),
    holdExpiresAt: text("hold_expires_at"),
    createdBy: text("created_by").notNull(),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    seq: integer("seq").notNull(),
  },
  (t) => [primaryKey({ columns: [t.org, t.id] }), index("redemptions_card").on(t.cardId, t.reference)],
);

/**
 * A stored-value card's audit trail in D1: one row per mirror flush of its Durable Object, holding
 * the flush's transactions (balance before and after, actor, reference, time) with their links in the
 * card's hash chain (durable-objects/card-chain.ts): `prev_hash` is the link before `first_seq`, `hash`
 * the link of `seq`. WITHOUT ROWID (edited into the migration), keyed by card and sequence, so a
 * flush costs one row and no index; a repeated flush inserts nothing. Per card rather than in the
 * org's `audit_events` chain: a card's transactions are already serialised by its object, and the
 * org chain's single head would serialise every checkout of the org (and cost 4 rows a transaction).
 */
export const cardAudit = sqliteTable(
  "card_audit",
  {
    cardId: text("card_id").notNull(),
    seq: integer("seq").notNull(),
    org: text("org").notNull(),
    firstSeq: integer("first_seq").notNull(),
    txns: text("txns").notNull(),
    prevHash: text("prev_hash").notNull(),
    hash: text("hash").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.cardId, t.seq] })],
);
