CREATE TABLE `campaign_budget_low_marks` (
	`campaign_id` text NOT NULL,
	`budget_amount` integer NOT NULL,
	`org` text NOT NULL,
	`committed` integer NOT NULL,
	`emitted_at` text NOT NULL,
	PRIMARY KEY(`campaign_id`, `budget_amount`)
);
--> statement-breakpoint
DROP INDEX `webhook_attempts_endpoint`;--> statement-breakpoint
DROP INDEX `webhook_messages_endpoint`;--> statement-breakpoint
DROP INDEX `webhook_messages_due`;--> statement-breakpoint
CREATE INDEX `webhook_messages_endpoint_id` ON `webhook_messages` (`endpoint_id`,`id`);--> statement-breakpoint
CREATE INDEX `webhook_messages_pending_due` ON `webhook_messages` (`next_attempt_at`) WHERE status = 'pending';--> statement-breakpoint
ALTER TABLE `webhook_endpoints` ADD `breaker_until` text;--> statement-breakpoint
-- Hand-written (drizzle-kit does not model triggers): exception.opened is written while the org has
-- any webhook endpoint, enabled or not, like every other event (a disabled endpoint keeps its events
-- as failed messages for `recover`).
DROP TRIGGER `webhook_exception_opened`;--> statement-breakpoint
CREATE TRIGGER `webhook_exception_opened` AFTER INSERT ON `exceptions`
WHEN EXISTS (SELECT 1 FROM `webhook_endpoints` WHERE `org` = NEW.`org`)
BEGIN
  INSERT INTO `webhook_events` (`id`, `org`, `type`, `entity_type`, `entity_id`, `data`, `created_at`)
  VALUES ('evt_' || lower(hex(randomblob(13))), NEW.`org`, 'exception.opened', 'exception', NEW.`id`,
    json_object('object', 'exception', 'id', NEW.`id`, 'kind', NEW.`kind`, 'severity', NEW.`severity`, 'entity_type', NEW.`entity_type`,
      'entity_id', NEW.`entity_id`, 'batch_id', NEW.`batch_id`, 'status', 'open'), NEW.`created_at`);
END;
