CREATE TABLE `campaign_approval_decisions` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`campaign_id` text NOT NULL,
	`day` text NOT NULL,
	`round` integer NOT NULL,
	`step` integer NOT NULL,
	`role` text NOT NULL,
	`approver_sub` text NOT NULL,
	`decision` text NOT NULL,
	`comment` text,
	`via` text NOT NULL,
	`link_id` text,
	`fingerprint` text NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `campaign_approval_decisions_approver` ON `campaign_approval_decisions` (`campaign_id`,`day`,`round`,`approver_sub`);--> statement-breakpoint
CREATE INDEX `campaign_approval_decisions_step` ON `campaign_approval_decisions` (`campaign_id`,`day`,`round`,`step`);--> statement-breakpoint
CREATE TABLE `campaign_approval_links` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`campaign_id` text NOT NULL,
	`day` text NOT NULL,
	`round` integer NOT NULL,
	`step` integer NOT NULL,
	`role` text NOT NULL,
	`approver_sub` text NOT NULL,
	`approver_email` text NOT NULL,
	`enrolment_id` text,
	`token_hash` text NOT NULL,
	`fingerprint` text NOT NULL,
	`status` text NOT NULL,
	`expires_at` text NOT NULL,
	`email_status` text NOT NULL,
	`email_message_id` text,
	`email_error` text,
	`opened_at` text,
	`used_at` text,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `campaign_approval_links_pending` ON `campaign_approval_links` (`campaign_id`,`day`,`round`,`step`,`approver_sub`) WHERE status = 'pending';--> statement-breakpoint
CREATE UNIQUE INDEX `campaign_approval_links_token` ON `campaign_approval_links` (`token_hash`);--> statement-breakpoint
CREATE INDEX `campaign_approval_links_day` ON `campaign_approval_links` (`campaign_id`,`day`,`round`);--> statement-breakpoint
ALTER TABLE `campaign_approvals` ADD `round` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE `campaign_approvals` ADD `policy` text;