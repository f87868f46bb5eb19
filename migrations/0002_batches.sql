CREATE TABLE `batch_recipients` (
	`id` text PRIMARY KEY NOT NULL,
	`batch_id` text NOT NULL,
	`org` text NOT NULL,
	`row_no` integer NOT NULL,
	`upload_id` text NOT NULL,
	`external_id` text,
	`name` text,
	`email` text,
	`phone` text,
	`country` text,
	`amount` integer,
	`amount_raw` text,
	`currency` text,
	`fields` text,
	`email_key` text,
	`phone_key` text,
	`status` text NOT NULL,
	`reasons` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `batch_recipients_row` ON `batch_recipients` (`batch_id`,`row_no`);--> statement-breakpoint
CREATE INDEX `batch_recipients_status` ON `batch_recipients` (`batch_id`,`status`,`row_no`);--> statement-breakpoint
CREATE INDEX `batch_recipients_email` ON `batch_recipients` (`email_key`,`batch_id`) WHERE email_key IS NOT NULL;--> statement-breakpoint
CREATE INDEX `batch_recipients_phone` ON `batch_recipients` (`phone_key`,`batch_id`) WHERE phone_key IS NOT NULL;--> statement-breakpoint
CREATE INDEX `batch_recipients_external` ON `batch_recipients` (`batch_id`,`external_id`) WHERE external_id IS NOT NULL;--> statement-breakpoint
CREATE TABLE `batch_transitions` (
	`batch_id` text NOT NULL,
	`seq` integer NOT NULL,
	`org` text NOT NULL,
	`from_status` text NOT NULL,
	`to_status` text NOT NULL,
	`action` text NOT NULL,
	`actor` text NOT NULL,
	`created_at` text NOT NULL,
	PRIMARY KEY(`batch_id`, `seq`)
);
--> statement-breakpoint
CREATE TABLE `batch_uploads` (
	`id` text PRIMARY KEY NOT NULL,
	`batch_id` text NOT NULL,
	`org` text NOT NULL,
	`format` text NOT NULL,
	`first_row` integer NOT NULL,
	`rows` integer NOT NULL,
	`valid` integer NOT NULL,
	`invalid` integer NOT NULL,
	`excluded` integer NOT NULL,
	`valid_total` integer NOT NULL,
	`created_by` text NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `batch_uploads_batch` ON `batch_uploads` (`batch_id`,`first_row`);--> statement-breakpoint
CREATE TABLE `batches` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`name` text NOT NULL,
	`campaign` text NOT NULL,
	`business_owner` text NOT NULL,
	`cost_center` text NOT NULL,
	`expected_delivery_date` text NOT NULL,
	`expected_count` integer NOT NULL,
	`pool_id` text NOT NULL,
	`product_id` text NOT NULL,
	`channel` text NOT NULL,
	`currency` text NOT NULL,
	`release_at` text,
	`status` text NOT NULL,
	`state_version` integer DEFAULT 0 NOT NULL,
	`rows_total` integer DEFAULT 0 NOT NULL,
	`valid_count` integer DEFAULT 0 NOT NULL,
	`invalid_count` integer DEFAULT 0 NOT NULL,
	`excluded_count` integer DEFAULT 0 NOT NULL,
	`valid_total` integer DEFAULT 0 NOT NULL,
	`content_version` integer DEFAULT 0 NOT NULL,
	`uploading_id` text,
	`uploading_until` text,
	`preview` text,
	`preview_version` integer,
	`released_at` text,
	`created_by` text NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `batches_org` ON `batches` (`org`,`id`);--> statement-breakpoint
CREATE INDEX `batches_org_status` ON `batches` (`org`,`status`);--> statement-breakpoint
CREATE TABLE `inventory_codes` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`product_id` text NOT NULL,
	`amount` integer NOT NULL,
	`ciphertext` text NOT NULL,
	`iv` text NOT NULL,
	`key_version` integer NOT NULL,
	`code_hmac` text NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`delivery_id` text,
	`upload_id` text NOT NULL,
	`created_at` text NOT NULL,
	`assigned_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `inventory_codes_hmac` ON `inventory_codes` (`org`,`code_hmac`);--> statement-breakpoint
CREATE INDEX `inventory_codes_product` ON `inventory_codes` (`product_id`,`status`,`amount`);--> statement-breakpoint
CREATE TABLE `org_settings` (
	`org` text PRIMARY KEY NOT NULL,
	`settings` text NOT NULL,
	`version` integer NOT NULL,
	`updated_by` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `products` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`currency` text NOT NULL,
	`min_amount` integer NOT NULL,
	`max_amount` integer NOT NULL,
	`countries` text NOT NULL,
	`expires_after_days` integer,
	`created_by` text NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `products_org` ON `products` (`org`,`id`);--> statement-breakpoint
CREATE TABLE `suppressions` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`kind` text NOT NULL,
	`value` text NOT NULL,
	`reason` text NOT NULL,
	`created_by` text NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `suppressions_value` ON `suppressions` (`org`,`kind`,`value`);--> statement-breakpoint
CREATE INDEX `suppressions_org` ON `suppressions` (`org`,`id`);--> statement-breakpoint
CREATE TABLE `write_guards` (
	`stale_write` integer NOT NULL
);
