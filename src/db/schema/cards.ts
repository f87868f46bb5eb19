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
