-- Hand-written (drizzle-kit cannot express WITHOUT ROWID): deliveries rebuilt as a WITHOUT ROWID table keyed by id.
-- A rowid table with a text primary key is two B-trees (the rows, and an index from id to rowid): every delivery
-- created wrote both, and every look-up by id read both. Same columns and indexes as after 0024. A later drizzle
-- migration that rebuilds this table must keep WITHOUT ROWID (test/schema.without-rowid.test.ts checks it).
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_deliveries` (
	`id` text NOT NULL PRIMARY KEY,
	`org` text NOT NULL,
	`batch_id` text,
	`recipient_id` text NOT NULL,
	`campaign_id` text,
	`event_id` text,
	`pool_id` text NOT NULL,
	`product_id` text NOT NULL,
	`channel` text NOT NULL,
	`amount` integer NOT NULL,
	`currency` text NOT NULL,
	`status` text NOT NULL,
	`status_reason` text,
	`item` text NOT NULL,
	`committed` integer DEFAULT 0 NOT NULL,
	`code_id` text,
	`card_id` text,
	`masked_code` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`claimed_until` text,
	`reissue_of` text,
	`claim_opened_at` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`delivered_at` text
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_deliveries`("id", "org", "batch_id", "recipient_id", "campaign_id", "event_id", "pool_id", "product_id", "channel", "amount", "currency", "status", "status_reason", "item", "committed", "code_id", "card_id", "masked_code", "attempts", "claimed_until", "reissue_of", "claim_opened_at", "created_at", "updated_at", "delivered_at") SELECT "id", "org", "batch_id", "recipient_id", "campaign_id", "event_id", "pool_id", "product_id", "channel", "amount", "currency", "status", "status_reason", "item", "committed", "code_id", "card_id", "masked_code", "attempts", "claimed_until", "reissue_of", "claim_opened_at", "created_at", "updated_at", "delivered_at" FROM `deliveries`;--> statement-breakpoint
DROP TABLE `deliveries`;--> statement-breakpoint
ALTER TABLE `__new_deliveries` RENAME TO `deliveries`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `deliveries_batch_status` ON `deliveries` (`batch_id`,`status`,`id`) WHERE status <> 'delivered';--> statement-breakpoint
CREATE INDEX `deliveries_batch_id` ON `deliveries` (`batch_id`,`id`);--> statement-breakpoint
CREATE INDEX `deliveries_campaign_id` ON `deliveries` (`campaign_id`,`id`) WHERE campaign_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `deliveries_org_status` ON `deliveries` (`org`,`status`,`updated_at`) WHERE status <> 'delivered';--> statement-breakpoint
CREATE INDEX `deliveries_recipient` ON `deliveries` (`recipient_id`);--> statement-breakpoint
CREATE INDEX `deliveries_org_id` ON `deliveries` (`org`,`id`);--> statement-breakpoint
CREATE INDEX `deliveries_reissue_of` ON `deliveries` (`reissue_of`) WHERE reissue_of IS NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `deliveries_code` ON `deliveries` (`code_id`) WHERE code_id IS NOT NULL;
