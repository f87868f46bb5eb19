CREATE TABLE `campaign_stats` (
	`campaign_id` text NOT NULL,
	`key` text NOT NULL,
	`n` integer NOT NULL,
	PRIMARY KEY(`campaign_id`, `key`)
);
--> statement-breakpoint
DROP INDEX `campaign_outcomes_campaign`;--> statement-breakpoint
DROP INDEX `campaign_outcomes_pending`;--> statement-breakpoint
CREATE INDEX `campaign_outcomes_org_customer` ON `campaign_outcomes` (`org`,`customer_key`);--> statement-breakpoint
CREATE INDEX `campaign_outcomes_pending` ON `campaign_outcomes` (`campaign_id`,`approval_day`,`outcome`) WHERE approval_day IS NOT NULL;--> statement-breakpoint
ALTER TABLE `campaign_events` ADD `skip_details` text;--> statement-breakpoint
-- Hand-added: counts of campaigns evaluated before this migration, from their outcome rows (one per event then, one per side for a referral).
INSERT INTO `campaign_stats` (`campaign_id`, `key`, `n`) SELECT `campaign_id`, 'events', COUNT(*) FROM `campaign_outcomes` GROUP BY `campaign_id`;
--> statement-breakpoint
INSERT INTO `campaign_stats` (`campaign_id`, `key`, `n`)
  SELECT `campaign_id`, 'skipped:' || `reason`, COUNT(*) FROM `campaign_outcomes` WHERE `outcome` = 'skipped' AND `reason` <> 'approval_rejected' GROUP BY `campaign_id`, `reason`;
