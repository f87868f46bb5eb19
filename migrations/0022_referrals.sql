CREATE TABLE `referral_numbers` (
	`campaign_id` text NOT NULL,
	`referrer_key` text NOT NULL,
	`seq` integer NOT NULL,
	`event_id` text NOT NULL,
	`created_at` text NOT NULL,
	PRIMARY KEY(`campaign_id`, `referrer_key`, `seq`)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `referral_numbers_event` ON `referral_numbers` (`campaign_id`,`event_id`);--> statement-breakpoint
DROP INDEX `campaign_outcomes_event`;--> statement-breakpoint
ALTER TABLE `campaign_outcomes` ADD `side` text;--> statement-breakpoint
-- Hand-edited: drizzle-kit splits the expression column at its comma; this is src/db/schema/campaigns.ts's coalesce(side, '').
CREATE UNIQUE INDEX `campaign_outcomes_event_side` ON `campaign_outcomes` (`org`,`event_id`,`campaign_id`,coalesce(`side`, ''));