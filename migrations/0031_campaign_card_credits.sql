ALTER TABLE `campaign_outcomes` ADD `card_id` text;--> statement-breakpoint
ALTER TABLE `campaign_outcomes` ADD `credit_id` text;--> statement-breakpoint
ALTER TABLE `campaign_outcomes` ADD `credit_expires_at` text;