CREATE TABLE `campaign_approvals` (
	`org` text NOT NULL,
	`campaign_id` text NOT NULL,
	`day` text NOT NULL,
	`status` text NOT NULL,
	`decided_by` text,
	`decided_at` text,
	`comment` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	PRIMARY KEY(`campaign_id`, `day`)
);
--> statement-breakpoint
CREATE TABLE `campaign_events` (
	`org` text NOT NULL,
	`id` text NOT NULL,
	`type` text NOT NULL,
	`occurred_at` text NOT NULL,
	`customer_key` text,
	`status` text NOT NULL,
	`claimed_until` text,
	`body_hash` text NOT NULL,
	`payload` text NOT NULL,
	`response` text,
	`created_by` text NOT NULL,
	`created_at` text NOT NULL,
	`completed_at` text,
	PRIMARY KEY(`org`, `id`)
);
--> statement-breakpoint
CREATE INDEX `campaign_events_evaluating` ON `campaign_events` (`claimed_until`) WHERE status = 'evaluating';--> statement-breakpoint
CREATE TABLE `campaign_outcomes` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`campaign_id` text NOT NULL,
	`event_id` text NOT NULL,
	`customer_key` text,
	`outcome` text NOT NULL,
	`reason` text,
	`amount` integer,
	`delivery_id` text,
	`committed` integer DEFAULT 0 NOT NULL,
	`detail` text,
	`name` text,
	`email` text,
	`phone` text,
	`external_id` text,
	`approval_day` text,
	`occurred_at` text NOT NULL,
	`created_at` text NOT NULL,
	`decided_at` text,
	`decided_by` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `campaign_outcomes_event` ON `campaign_outcomes` (`org`,`event_id`,`campaign_id`);--> statement-breakpoint
CREATE INDEX `campaign_outcomes_customer` ON `campaign_outcomes` (`campaign_id`,`customer_key`,`occurred_at`);--> statement-breakpoint
CREATE INDEX `campaign_outcomes_campaign` ON `campaign_outcomes` (`campaign_id`,`outcome`,`occurred_at`);--> statement-breakpoint
CREATE INDEX `campaign_outcomes_pending` ON `campaign_outcomes` (`campaign_id`,`approval_day`,`outcome`);--> statement-breakpoint
CREATE TABLE `campaigns` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`name` text NOT NULL,
	`status` text NOT NULL,
	`trigger` text NOT NULL,
	`trigger_event` text,
	`rules` text,
	`reward` text NOT NULL,
	`product_id` text NOT NULL,
	`channel` text NOT NULL,
	`pool_id` text NOT NULL,
	`currency` text NOT NULL,
	`budget_amount` integer NOT NULL,
	`pause_at_pct` integer DEFAULT 100 NOT NULL,
	`limits` text DEFAULT '{}' NOT NULL,
	`approval_at_or_above` integer,
	`starts_at` text,
	`ends_at` text,
	`owner_email` text,
	`paused_reason` text,
	`hold_count` integer DEFAULT 0 NOT NULL,
	`budget_released` integer DEFAULT 0 NOT NULL,
	`state_version` integer DEFAULT 0 NOT NULL,
	`created_by` text NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `campaigns_org_id` ON `campaigns` (`org`,`id`);--> statement-breakpoint
CREATE INDEX `campaigns_trigger` ON `campaigns` (`org`,`trigger_event`,`status`);--> statement-breakpoint
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_deliveries` (
	`id` text PRIMARY KEY NOT NULL,
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
);
--> statement-breakpoint
INSERT INTO `__new_deliveries`("id", "org", "batch_id", "recipient_id", "campaign_id", "event_id", "pool_id", "product_id", "channel", "amount", "currency", "status", "status_reason", "item", "committed", "code_id", "card_id", "masked_code", "attempts", "claimed_until", "reissue_of", "claim_opened_at", "created_at", "updated_at", "delivered_at") SELECT "id", "org", "batch_id", "recipient_id", NULL, NULL, "pool_id", "product_id", "channel", "amount", "currency", "status", "status_reason", "item", "committed", "code_id", "card_id", "masked_code", "attempts", "claimed_until", "reissue_of", "claim_opened_at", "created_at", "updated_at", "delivered_at" FROM `deliveries`;--> statement-breakpoint
DROP TABLE `deliveries`;--> statement-breakpoint
ALTER TABLE `__new_deliveries` RENAME TO `deliveries`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `deliveries_batch_status` ON `deliveries` (`batch_id`,`status`,`id`);--> statement-breakpoint
CREATE INDEX `deliveries_batch_id` ON `deliveries` (`batch_id`,`id`);--> statement-breakpoint
CREATE INDEX `deliveries_campaign_id` ON `deliveries` (`campaign_id`,`id`) WHERE campaign_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `deliveries_org_status` ON `deliveries` (`org`,`status`,`updated_at`);--> statement-breakpoint
CREATE INDEX `deliveries_recipient` ON `deliveries` (`recipient_id`);--> statement-breakpoint
CREATE INDEX `deliveries_org_id` ON `deliveries` (`org`,`id`);--> statement-breakpoint
CREATE INDEX `deliveries_reissue_of` ON `deliveries` (`reissue_of`) WHERE reissue_of IS NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `deliveries_code` ON `deliveries` (`code_id`) WHERE code_id IS NOT NULL;