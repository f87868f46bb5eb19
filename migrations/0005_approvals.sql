CREATE TABLE `approval_decisions` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`batch_id` text NOT NULL,
	`step` integer NOT NULL,
	`approver_sub` text NOT NULL,
	`decision` text NOT NULL,
	`comment` text,
	`via` text NOT NULL,
	`request_id` text,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `approval_decisions_approver` ON `approval_decisions` (`batch_id`,`approver_sub`);--> statement-breakpoint
CREATE INDEX `approval_decisions_step` ON `approval_decisions` (`batch_id`,`step`,`decision`);--> statement-breakpoint
CREATE TABLE `approval_flows` (
	`batch_id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`policy` text NOT NULL,
	`steps` text NOT NULL,
	`current_step` integer DEFAULT 0 NOT NULL,
	`state` text NOT NULL,
	`auto_release` integer NOT NULL,
	`content_hash` text NOT NULL,
	`fingerprint` text NOT NULL,
	`hold_id` text NOT NULL,
	`hold_amount` integer NOT NULL,
	`hold_expires_at` text NOT NULL,
	`hold_released_at` text,
	`exit_actor` text,
	`submitted_by` text NOT NULL,
	`submitted_at` text NOT NULL,
	`closed_at` text,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `approval_flows_state` ON `approval_flows` (`state`,`hold_expires_at`);--> statement-breakpoint
CREATE TABLE `approval_requests` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`batch_id` text NOT NULL,
	`step` integer NOT NULL,
	`approver_sub` text NOT NULL,
	`approver_email` text NOT NULL,
	`token_hash` text NOT NULL,
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
CREATE UNIQUE INDEX `approval_requests_step_approver` ON `approval_requests` (`batch_id`,`step`,`approver_sub`);--> statement-breakpoint
CREATE UNIQUE INDEX `approval_requests_token` ON `approval_requests` (`token_hash`);