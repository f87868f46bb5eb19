-- Hand-edited: WITHOUT ROWID added (drizzle-kit cannot express it). An attempt is then one B-tree row keyed by
-- (delivery_id, attempt_no): one row written per attempt instead of the row, its id index and the (delivery, no) index.
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_delivery_attempts` (
	`id` text NOT NULL,
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
	`completed_at` text,
	PRIMARY KEY(`delivery_id`, `attempt_no`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_delivery_attempts`("id", "delivery_id", "org", "attempt_no", "kind", "channel", "idempotency_key", "outcome", "provider_message_id", "error_class", "error_detail", "actor", "created_at", "completed_at") SELECT "id", "delivery_id", "org", "attempt_no", "kind", "channel", "idempotency_key", "outcome", "provider_message_id", "error_class", "error_detail", "actor", "created_at", "completed_at" FROM `delivery_attempts`;--> statement-breakpoint
DROP TABLE `delivery_attempts`;--> statement-breakpoint
ALTER TABLE `__new_delivery_attempts` RENAME TO `delivery_attempts`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
DROP INDEX `deliveries_batch_status`;--> statement-breakpoint
DROP INDEX `deliveries_org_status`;--> statement-breakpoint
CREATE INDEX `deliveries_batch_status` ON `deliveries` (`batch_id`,`status`,`id`) WHERE status <> 'delivered';--> statement-breakpoint
CREATE INDEX `deliveries_org_status` ON `deliveries` (`org`,`status`,`updated_at`) WHERE status <> 'delivered';