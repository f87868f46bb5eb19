CREATE TABLE `campaign_run_waits` (
	`campaign_id` text NOT NULL,
	`occurrence` text NOT NULL,
	`due_at` text NOT NULL,
	`seq` integer NOT NULL,
	`org` text NOT NULL,
	`external_ids` text NOT NULL,
	`claimed_until` text,
	PRIMARY KEY(`campaign_id`, `occurrence`, `due_at`, `seq`)
);
--> statement-breakpoint
CREATE INDEX `campaign_run_waits_due` ON `campaign_run_waits` (`due_at`);--> statement-breakpoint
CREATE TABLE `campaign_runs` (
	`campaign_id` text NOT NULL,
	`occurrence` text NOT NULL,
	`org` text NOT NULL,
	`kind` text NOT NULL,
	`status` text NOT NULL,
	`as_of` text NOT NULL,
	`params` text NOT NULL,
	`cursor` text,
	`step` integer DEFAULT 0 NOT NULL,
	`evaluated` integer DEFAULT 0 NOT NULL,
	`rewarded` integer DEFAULT 0 NOT NULL,
	`pending` integer DEFAULT 0 NOT NULL,
	`skipped` integer DEFAULT 0 NOT NULL,
	`waiting` integer DEFAULT 0 NOT NULL,
	`missed` integer DEFAULT 0 NOT NULL,
	`rows_read` integer DEFAULT 0 NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`completed_at` text,
	PRIMARY KEY(`campaign_id`, `occurrence`)
);
--> statement-breakpoint
CREATE INDEX `campaign_runs_running` ON `campaign_runs` (`updated_at`) WHERE status = 'running';--> statement-breakpoint
CREATE TABLE `campaign_schedules` (
	`campaign_id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`kind` text NOT NULL,
	`next_occurrence` text NOT NULL,
	`next_at` text NOT NULL,
	`watermark` text,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `campaign_schedules_due` ON `campaign_schedules` (`next_at`);