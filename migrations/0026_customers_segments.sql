CREATE TABLE `segment_campaign_runs` (
	`campaign_id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`after_id` text NOT NULL,
	`done` integer DEFAULT 0 NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
ALTER TABLE `segment_members` ADD `fired` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `segment_members_unfired` ON `segment_members` (`changed_at`) WHERE entries > fired;--> statement-breakpoint
ALTER TABLE `segments` ADD `backfill_after` text;--> statement-breakpoint
ALTER TABLE `segments` ADD `backfilled` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `segments_backfill` ON `segments` (`created_at`) WHERE backfilled = 0;--> statement-breakpoint
CREATE INDEX `campaign_events_customer` ON `campaign_events` (`org`,`customer_key`);--> statement-breakpoint
CREATE INDEX `campaign_outcomes_external` ON `campaign_outcomes` (`org`,`external_id`);