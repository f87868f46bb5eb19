/** Referral campaigns: each referrer's referrals numbered per campaign (src/events/referral.ts). */
import { integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * The n-th referral of a referrer in a campaign that reached the reward step. The number is
 * claimed by one `INSERT … SELECT MAX(seq) + 1` (D1 runs one statement at a time, so two
 * referrals never share a number), at most `per_referrer.count` of them, and once per event (the
 * unique event index makes a re-run find its number). It decides the cap and the milestone tier,
 * reading one index entry however many referrals the referrer has made.
 */
export const referralNumbers = sqliteTable(
  "referral_numbers",
  {
    campaignId: text("campaign_id").notNull(),
    referrerKey: text("referrer_key").notNull(),
    seq: integer("seq").notNull(),
    eventId: text("event_id").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.campaignId, t.referrerKey, t.seq] }), uniqueIndex("referral_numbers_event").on(t.campaignId, t.eventId)],
);
