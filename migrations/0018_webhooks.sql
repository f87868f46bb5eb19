CREATE TABLE `pool_low_balance_alerts` (
	`pool_id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`threshold` integer NOT NULL,
	`last_emitted_at` text,
	`updated_by` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `pool_low_balance_alerts_org` ON `pool_low_balance_alerts` (`org`);--> statement-breakpoint
CREATE TABLE `webhook_attempts` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`message_id` text NOT NULL,
	`endpoint_id` text NOT NULL,
	`attempted_at` text NOT NULL,
	`status_code` integer,
	`latency_ms` integer NOT NULL,
	`response_body` text,
	`error` text,
	`outcome` text NOT NULL,
	`manual` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `webhook_attempts_message` ON `webhook_attempts` (`message_id`,`attempted_at`);--> statement-breakpoint
CREATE INDEX `webhook_attempts_endpoint` ON `webhook_attempts` (`endpoint_id`,`attempted_at`);--> statement-breakpoint
CREATE TABLE `webhook_endpoints` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`url` text NOT NULL,
	`events` text NOT NULL,
	`description` text,
	`enabled` integer DEFAULT 1 NOT NULL,
	`disabled_reason` text,
	`secret_ciphertext` text NOT NULL,
	`secret_iv` text NOT NULL,
	`key_version` integer NOT NULL,
	`previous_ciphertext` text,
	`previous_iv` text,
	`previous_expires_at` text,
	`owner_sub` text NOT NULL,
	`owner_email` text,
	`failing_since` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `webhook_endpoints_org` ON `webhook_endpoints` (`org`,`enabled`);--> statement-breakpoint
CREATE TABLE `webhook_events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`org` text NOT NULL,
	`type` text NOT NULL,
	`entity_type` text NOT NULL,
	`entity_id` text NOT NULL,
	`data` text NOT NULL,
	`created_at` text NOT NULL,
	`dispatched_at` text
);
--> statement-breakpoint
CREATE INDEX `webhook_events_undispatched` ON `webhook_events` (`dispatched_at`,`org`,`seq`);--> statement-breakpoint
CREATE TABLE `webhook_messages` (
	`id` text PRIMARY KEY NOT NULL,
	`org` text NOT NULL,
	`endpoint_id` text NOT NULL,
	`event_id` text NOT NULL,
	`event_seq` integer NOT NULL,
	`entity_id` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` text NOT NULL,
	`lease_until` text,
	`last_error` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `webhook_messages_event_endpoint` ON `webhook_messages` (`event_id`,`endpoint_id`);--> statement-breakpoint
CREATE INDEX `webhook_messages_order` ON `webhook_messages` (`endpoint_id`,`entity_id`,`event_seq`);--> statement-breakpoint
CREATE INDEX `webhook_messages_endpoint` ON `webhook_messages` (`endpoint_id`,`status`,`created_at`);--> statement-breakpoint
CREATE INDEX `webhook_messages_due` ON `webhook_messages` (`status`,`next_attempt_at`);--> statement-breakpoint
-- Hand-written (drizzle-kit does not model triggers): an exception that opens is a webhook event
-- (exception.opened), written by the same statement that opens it, so in the same transaction. The
-- UPSERT of src/exceptions/exceptions.open.ts bumps a repeat with an UPDATE, which does not fire it.
CREATE TRIGGER `webhook_exception_opened` AFTER INSERT ON `exceptions`
WHEN EXISTS (SELECT 1 FROM `webhook_endpoints` WHERE `org` = NEW.`org` AND `enabled` = 1)
BEGIN
  INSERT INTO `webhook_events` (`id`, `org`, `type`, `entity_type`, `entity_id`, `data`, `created_at`)
  VALUES ('evt_' || lower(hex(randomblob(13))), NEW.`org`, 'exception.opened', 'exception', NEW.`id`,
    json_object('object', 'exception', 'id', NEW.`id`, 'kind', NEW.`kind`, 'severity', NEW.`severity`, 'entity_type', NEW.`entity_type`,
      'entity_id', NEW.`entity_id`, 'batch_id', NEW.`batch_id`, 'status', 'open'), NEW.`created_at`);
END;
