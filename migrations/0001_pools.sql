CREATE TABLE `pool_ledger` (
	`pool_id` text NOT NULL,
	`seq` integer NOT NULL,
	`org` text NOT NULL,
	`op_id` text NOT NULL,
	`kind` text NOT NULL,
	`hold_id` text,
	`item_id` text,
	`amount` integer NOT NULL,
	`before` text NOT NULL,
	`after` text NOT NULL,
	`actor` text NOT NULL,
	`reference` text,
	`created_at` text NOT NULL,
	PRIMARY KEY(`pool_id`, `seq`)
);
--> statement-breakpoint
CREATE INDEX `pool_ledger_item` ON `pool_ledger` (`org`,`item_id`);--> statement-breakpoint
CREATE INDEX `pool_ledger_hold` ON `pool_ledger` (`pool_id`,`hold_id`);--> statement-breakpoint
CREATE TABLE `pools` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`name` text NOT NULL,
	`currency` text NOT NULL,
	`limits` text DEFAULT '{}' NOT NULL,
	`available` integer DEFAULT 0 NOT NULL,
	`reserved` integer DEFAULT 0 NOT NULL,
	`committed` integer DEFAULT 0 NOT NULL,
	`funded` integer DEFAULT 0 NOT NULL,
	`released` integer DEFAULT 0 NOT NULL,
	`reversed` integer DEFAULT 0 NOT NULL,
	`withdrawn` integer DEFAULT 0 NOT NULL,
	`journal_seq` integer DEFAULT 0 NOT NULL,
	`created_by` text NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `pools_org` ON `pools` (`org`,`id`);