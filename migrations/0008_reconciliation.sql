CREATE TABLE `reconciliation_findings` (
	`id` text PRIMARY KEY NOT NULL,
	`run_id` text NOT NULL,
	`org` text NOT NULL,
	`kind` text NOT NULL,
	`severity` text NOT NULL,
	`entity_type` text NOT NULL,
	`entity_id` text NOT NULL,
	`batch_id` text,
	`pool_id` text,
	`currency` text,
	`expected` integer,
	`actual` integer,
	`detail` text NOT NULL,
	`data` text,
	`fingerprint` text NOT NULL,
	`exception_id` text,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `reconciliation_findings_entity` ON `reconciliation_findings` (`run_id`,`kind`,`entity_id`);--> statement-breakpoint
CREATE INDEX `reconciliation_findings_run` ON `reconciliation_findings` (`run_id`,`id`);--> statement-breakpoint
CREATE TABLE `reconciliation_issues` (
	`org` text NOT NULL,
	`kind` text NOT NULL,
	`entity_id` text NOT NULL,
	`fingerprint` text NOT NULL,
	`state` text NOT NULL,
	`first_run_id` text NOT NULL,
	`last_run_id` text NOT NULL,
	`updated_at` text NOT NULL,
	PRIMARY KEY(`org`, `kind`, `entity_id`)
);
--> statement-breakpoint
CREATE INDEX `reconciliation_issues_state` ON `reconciliation_issues` (`org`,`state`);--> statement-breakpoint
CREATE TABLE `reconciliation_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`trigger` text NOT NULL,
	`requested_by` text NOT NULL,
	`status` text NOT NULL,
	`phase` text NOT NULL,
	`cursor` text,
	`state` text NOT NULL,
	`step` integer DEFAULT 0 NOT NULL,
	`rows_scanned` integer DEFAULT 0 NOT NULL,
	`failures` integer DEFAULT 0 NOT NULL,
	`error` text,
	`findings_by_kind` text,
	`findings_by_severity` text,
	`lease_until` text,
	`started_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`completed_at` text
);
--> statement-breakpoint
CREATE INDEX `reconciliation_runs_org` ON `reconciliation_runs` (`org`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `reconciliation_runs_running` ON `reconciliation_runs` (`org`) WHERE status = 'running';--> statement-breakpoint
CREATE INDEX `deliveries_org_id` ON `deliveries` (`org`,`id`);--> statement-breakpoint
CREATE INDEX `exceptions_entity` ON `exceptions` (`org`,`entity_id`);