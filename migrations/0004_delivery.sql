CREATE TABLE `cards` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`product_id` text NOT NULL,
	`delivery_id` text NOT NULL,
	`currency` text NOT NULL,
	`initial_amount` integer NOT NULL,
	`balance` integer NOT NULL,
	`ciphertext` text NOT NULL,
	`iv` text NOT NULL,
	`key_version` integer NOT NULL,
	`code_hmac` text NOT NULL,
	`status` text NOT NULL,
	`expires_at` text,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `cards_delivery` ON `cards` (`delivery_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `cards_hmac` ON `cards` (`org`,`code_hmac`);--> statement-breakpoint
CREATE TABLE `deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`batch_id` text NOT NULL,
	`recipient_id` text NOT NULL,
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
CREATE INDEX `deliveries_batch_status` ON `deliveries` (`batch_id`,`status`);--> statement-breakpoint
CREATE INDEX `deliveries_org_status` ON `deliveries` (`org`,`status`,`updated_at`);--> statement-breakpoint
CREATE INDEX `deliveries_recipient` ON `deliveries` (`recipient_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `deliveries_code` ON `deliveries` (`code_id`) WHERE code_id IS NOT NULL;--> statement-breakpoint
CREATE TABLE `delivery_attempts` (
	`id` text PRIMARY KEY NOT NULL,
	`delivery_id` text NOT NULL,
	`org` text NOT NULL,
	`attempt_no` integer NOT NULL,
	`kind` text NOT NULL,
	`channel` text NOT NULL,
	`idempotency_key` text NOT NULL,
	`outcome` text NOT NULL,
	`provider_message_id` text,
	`error_class` text,
	`error_detail` text,
	`actor` text NOT NULL,
	`created_at` text NOT NULL,
	`completed_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `delivery_attempts_no` ON `delivery_attempts` (`delivery_id`,`attempt_no`);--> statement-breakpoint
CREATE TABLE `delivery_chunks` (
	`batch_id` text NOT NULL,
	`from_row` integer NOT NULL,
	`to_row` integer NOT NULL,
	`org` text NOT NULL,
	`done` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`batch_id`, `from_row`)
);
--> statement-breakpoint
CREATE TABLE `exceptions` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`kind` text NOT NULL,
	`severity` text NOT NULL,
	`entity_type` text NOT NULL,
	`entity_id` text NOT NULL,
	`batch_id` text,
	`status` text NOT NULL,
	`detail` text NOT NULL,
	`data` text,
	`occurrences` integer DEFAULT 1 NOT NULL,
	`resolution` text,
	`note` text,
	`resolved_by` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`resolved_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `exceptions_open` ON `exceptions` (`org`,`kind`,`entity_id`) WHERE status = 'open';--> statement-breakpoint
CREATE INDEX `exceptions_org_status` ON `exceptions` (`org`,`status`,`created_at`);