CREATE TABLE `approver_enrolments` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`sub` text NOT NULL,
	`email` text NOT NULL,
	`roles` text NOT NULL,
	`status` text NOT NULL,
	`token_hash` text NOT NULL,
	`expires_at` text NOT NULL,
	`created_at` text NOT NULL,
	`confirmed_at` text
);
--> statement-breakpoint
CREATE INDEX `approver_enrolments_sub` ON `approver_enrolments` (`org`,`sub`,`created_at`);--> statement-breakpoint
CREATE UNIQUE INDEX `approver_enrolments_token` ON `approver_enrolments` (`token_hash`);--> statement-breakpoint
CREATE TABLE `approvers` (
	`org` text NOT NULL,
	`sub` text NOT NULL,
	`email` text NOT NULL,
	`roles` text NOT NULL,
	`status` text NOT NULL,
	`enrolment_id` text,
	`version` integer DEFAULT 1 NOT NULL,
	`enrolled_at` text NOT NULL,
	`verified_at` text,
	`updated_at` text NOT NULL,
	PRIMARY KEY(`org`, `sub`)
);
--> statement-breakpoint
ALTER TABLE `approval_requests` ADD `enrolment_id` text;--> statement-breakpoint
CREATE INDEX `batch_uploads_actor` ON `batch_uploads` (`batch_id`,`created_by`);--> statement-breakpoint
-- Approvers are no longer settings: people enrol themselves (src/approvers/). Nobody is carried over,
-- since a settings entry is exactly the admin-typed data that must not grant approval authority.
UPDATE `org_settings` SET `settings` = json_remove(`settings`, '$.approvers') WHERE json_extract(`settings`, '$.approvers') IS NOT NULL;
