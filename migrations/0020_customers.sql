-- Hand edit: customer_dates, customers and segment_members are WITHOUT ROWID (their primary key is the
-- table's only B-tree, so a row written is one entry, not a row plus a key index entry).
CREATE TABLE `customer_dates` (
	`org` text NOT NULL,
	`attribute` text NOT NULL,
	`month_day` text NOT NULL,
	`external_id` text NOT NULL,
	`value` text NOT NULL,
	PRIMARY KEY(`org`, `attribute`, `month_day`, `external_id`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `customers` (
	`org` text NOT NULL,
	`external_id` text NOT NULL,
	`identity_key` text NOT NULL,
	`email` text,
	`phone` text,
	`name` text,
	`country` text,
	`time_zone` text,
	`attributes` text DEFAULT '{}' NOT NULL,
	`last_seen_at` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	PRIMARY KEY(`org`, `external_id`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE INDEX `customers_identity` ON `customers` (`org`,`identity_key`);--> statement-breakpoint
CREATE INDEX `customers_last_seen` ON `customers` (`org`,`last_seen_at`);--> statement-breakpoint
CREATE TABLE `segment_members` (
	`org` text NOT NULL,
	`segment_id` text NOT NULL,
	`external_id` text NOT NULL,
	`inside` integer NOT NULL,
	`entries` integer DEFAULT 0 NOT NULL,
	`changed_at` text NOT NULL,
	PRIMARY KEY(`org`, `segment_id`, `external_id`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `segments` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`name` text NOT NULL,
	`condition` text NOT NULL,
	`created_by` text NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `segments_org` ON `segments` (`org`,`created_at`);