-- Recipients' indexes name their batch by a small integer (`batches.ref`) instead of the 30-character id.
ALTER TABLE `batches` ADD `ref` integer;--> statement-breakpoint
UPDATE `batches` SET `ref` = rowid;--> statement-breakpoint
CREATE UNIQUE INDEX `batches_ref` ON `batches` (`ref`);--> statement-breakpoint
ALTER TABLE `batch_recipients` ADD `batch_ref` integer;--> statement-breakpoint
UPDATE `batch_recipients` SET `batch_ref` = (SELECT `ref` FROM `batches` WHERE `batches`.`id` = `batch_recipients`.`batch_id`);--> statement-breakpoint
DROP INDEX `batch_recipients_row`;--> statement-breakpoint
DROP INDEX `batch_recipients_email`;--> statement-breakpoint
DROP INDEX `batch_recipients_phone`;--> statement-breakpoint
DROP INDEX `batch_recipients_external`;--> statement-breakpoint
CREATE UNIQUE INDEX `batch_recipients_row` ON `batch_recipients` (`batch_ref`,`row_no`);--> statement-breakpoint
CREATE INDEX `batch_recipients_email` ON `batch_recipients` (`email_key`,`batch_ref`) WHERE email_key IS NOT NULL;--> statement-breakpoint
CREATE INDEX `batch_recipients_phone` ON `batch_recipients` (`phone_key`,`batch_ref`) WHERE phone_key IS NOT NULL;--> statement-breakpoint
CREATE INDEX `batch_recipients_external` ON `batch_recipients` (`batch_ref`,`external_id`) WHERE external_id IS NOT NULL;
