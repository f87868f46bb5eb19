/**
 * Approvers: people who enrolled themselves with their own token (roles = the approval roles that
 * token carried) and confirmed their address by a link. Admins can suspend, reinstate or remove an
 * approver, never add one or change their email or roles (src/approvers/).
 */
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * One row per org and person. `email` / `roles` are what approval emails and link decisions rely on:
 * those of the confirmed enrolment `enrolment_id` (for a first enrolment not yet confirmed, the
 * pending one's, with status `pending` and no enrolment_id). `status` changes only through
 * src/approvers/approver-state.ts, which bumps `version`.
 */
export const approvers = sqliteTable(
  "approvers",
  {
    org: text("org").notNull(),
    sub: text("sub").notNull(),
    email: text("email").notNull(),
    /** JSON array of approval roles (finance, owner, operator). */
    roles: text("roles").notNull(),
    status: text("status", { enum: ["pending", "active", "suspended"] }).notNull(),
    /** The confirmed enrolment in force; null until the first confirmation. */
    enrolmentId: text("enrolment_id"),
    version: integer("version").notNull().default(1),
    enrolledAt: text("enrolled_at").notNull(),
    verifiedAt: text("verified_at"),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.org, t.sub] })],
);

/**
 * Every enrolment request with its verification link (only the token's SHA-256 is stored). `status`
 * moves pending → confirmed (once) or pending → superseded (a newer enrolment, or the approver was
 * removed), never back. At most one pending enrolment per person.
 */
export const approverEnrolments = sqliteTable(
  "approver_enrolments",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    sub: text("sub").notNull(),
    email: text("email").notNull(),
    roles: text("roles").notNull(),
    status: text("status", { enum: ["pending", "confirmed", "superseded"] }).notNull(),
    tokenHash: text("token_hash").notNull(),
    expiresAt: text("expires_at").notNull(),
    createdAt: text("created_at").notNull(),
    confirmedAt: text("confirmed_at"),
  },
  (t) => [index("approver_enrolments_sub").on(t.org, t.sub, t.createdAt), uniqueIndex("approver_enrolments_token").on(t.tokenHash)],
);
