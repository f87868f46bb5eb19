/**
 * Customer profiles (API.md "Customers and segments"), kept current by the CRM (PUT, CSV/JSON import)
 * and by events (`last_seen_at`), and what scheduled triggers page through: `customer_dates` indexes
 * each date attribute's month-day, so a birthday run reads the day's customers and never the table.
 * Segments are named CEL conditions over a customer; `segment_members` records who is inside, so
 * "entered a segment" fires once per entry.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const customers = sqliteTable(
  "customers",
  {
    org: text("org").notNull(),
    externalId: text("external_id").notNull(),
    /** The identity key caps count by, as batch validation compares recipients (src/events/customer.ts). */
    identityKey: text("identity_key").notNull(),
    email: text("email"),
    phone: text("phone"),
    name: text("name"),
    country: text("country"),
    /** IANA time zone; null means the org's. Date triggers fire on the customer's local date. */
    timeZone: text("time_zone"),
    /** JSON object: birthday, signup_date, tier, tags, any custom field. */
    attributes: text("attributes").notNull().default("{}"),
    /** The last event received for this customer (inactivity triggers read it). */
    lastSeenAt: text("last_seen_at"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.org, t.externalId] }),
    index("customers_identity").on(t.org, t.identityKey),
    // Inactivity: the customers whose last event fell on one day, a bounded range per run.
    index("customers_last_seen").on(t.org, t.lastSeenAt),
  ],
);

/**
 * One row per customer and date attribute (`birthday`, `signup_date`, any `YYYY-MM-DD` or `--MM-DD`
 * value): its month-day, so that a date trigger's run reads exactly the customers of the day. Rewritten
 * with the profile (same D1 batch); February 29 is stored as `02-29` and looked up on February 28 in
 * common years by the trigger.
 */
export const customerDates = sqliteTable(
  "customer_dates",
  {
    org: text("org").notNull(),
    attribute: text("attribute").notNull(),
    monthDay: text("month_day").notNull(),
    externalId: text("external_id").notNull(),
    /** The full value as given (a year, when there is one, makes anniversaries countable). */
    value: text("value").notNull(),
  },
  (t) => [primaryKey({ columns: [t.org, t.attribute, t.monthDay, t.externalId] })],
);

export const segments = sqliteTable(
  "segments",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    name: text("name").notNull(),
    /** CEL over `customer`, compiled and type-checked when saved (src/campaigns/rules.ts). */
    condition: text("condition").notNull(),
    createdBy: text("created_by").notNull(),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    /**
     * Customers stored before the segment was saved are sorted in by the five-minute sweep, a page at
     * a time: the last external id done, and whether it is finished. Who is inside then was inside
     * before any campaign of the segment could exist, so those entries fire nothing.
     */
    backfillAfter: text("backfill_after"),
    backfilled: integer("backfilled").notNull().default(0),
  },
  (t) => [index("segments_org").on(t.org, t.createdAt), index("segments_backfill").on(t.createdAt).where(sql`backfilled = 0`)],
);

/**
 * Who is inside a segment, and how many times they entered. A profile change that makes the condition
 * true sets `inside` and counts an entry (`segment_entered` campaigns fire once per entry, keyed by
 * `entries`); one that makes it false clears `inside`, so a later re-entry is a new entry.
 */
export const segmentMembers = sqliteTable(
  "segment_members",
  {
    org: text("org").notNull(),
    segmentId: text("segment_id").notNull(),
    externalId: text("external_id").notNull(),
    inside: integer("inside").notNull(),
    entries: integer("entries").notNull().default(0),
    /**
     * Entries already handed to the segment's `segment_entered` campaigns (or that had none to go to).
     * `entries > fired` is an entry still to evaluate: the row is its own outbox, so an entry whose
     * request died is evaluated by the five-minute sweep (src/customers/segment-entries.ts).
     */
    fired: integer("fired").notNull().default(0),
    changedAt: text("changed_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.org, t.segmentId, t.externalId] }), index("segment_members_unfired").on(t.changedAt).where(sql`entries > fired`)],
);

/**
 * The first run of a `segment_entered` campaign with `include_existing`: it pages through the members
 * inside the segment (by external id) and evaluates each one's current entry; `done` once through.
 */
export const segmentCampaignRuns = sqliteTable("segment_campaign_runs", {
  campaignId: text("campaign_id").primaryKey(),
  org: text("org").notNull(),
  afterId: text("after_id").notNull(),
  done: integer("done").notNull().default(0),
  updatedAt: text("updated_at").notNull(),
});
