CREATE TABLE `dev_outbox` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`channel` text NOT NULL,
	`to` text NOT NULL,
	`subject` text,
	`text` text NOT NULL,
	`html` text,
	`links` text DEFAULT '[]' NOT NULL,
	`idempotency_key` text NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `dev_outbox_idempotency` ON `dev_outbox` (`idempotency_key`);--> statement-breakpoint
CREATE INDEX `dev_outbox_created` ON `dev_outbox` (`created_at`);