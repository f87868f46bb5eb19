/** The catalog: products and their encrypted inventory codes. */
import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Products of the catalog: `inventory` (codes bought from a provider) or `stored_value` (cards Rewardrail issues). */
export const products = sqliteTable(
  "products",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    name: text("name").notNull(),
    kind: text("kind", { enum: ["inventory", "stored_value"] }).notNull(),
    currency: text("currency").notNull(),
    minAmount: integer("min_amount").notNull(),
    maxAmount: integer("max_amount").notNull(),
    countries: text("countries").notNull(),
    expiresAfterDays: integer("expires_after_days"),
    createdBy: text("created_by").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [index("products_org").on(t.org, t.id)],
);

/**
 * Inventory codes, encrypted at rest: AES-GCM with a random IV and AAD = org + code id, so a
 * ciphertext copied onto another row does not decrypt. `code_hmac` (keyed, per org) finds duplicates
 * without ever storing the plain code.
 */
export const inventoryCodes = sqliteTable(
  "inventory_codes",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    productId: text("product_id").notNull(),
    amount: integer("amount").notNull(),
    ciphertext: text("ciphertext").notNull(),
    iv: text("iv").notNull(),
    keyVersion: integer("key_version").notNull(),
    codeHmac: text("code_hmac").notNull(),
    // `pending` until the upload that brought the code commits, so a half-done upload is never handed out.
    status: text("status", { enum: ["pending", "available", "assigned"] })
      .notNull()
      .default("pending"),
    deliveryId: text("delivery_id"),
    uploadId: text("upload_id").notNull(),
    createdAt: text("created_at").notNull(),
    assignedAt: text("assigned_at"),
    /** Set when the delivery's reward was reissued or reversed: the code stays assigned (it was seen) but is void. */
    voidedAt: text("voided_at"),
  },
  (t) => [
    uniqueIndex("inventory_codes_hmac").on(t.org, t.codeHmac),
    index("inventory_codes_product").on(t.productId, t.status, t.amount),
    // A delivery's code (found again after a crashed attempt, freed when its send fails, reissued):
    // without it each of those statements read every org's codes.
    index("inventory_codes_delivery").on(t.deliveryId).where(sql`delivery_id IS NOT NULL`),
    // An upload's codes while it runs (made available when it commits, deleted when it fails).
    index("inventory_codes_pending").on(t.uploadId).where(sql`status = 'pending'`),
  ],
);
