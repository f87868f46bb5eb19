DROP INDEX `batch_recipients_status`;--> statement-breakpoint
ALTER TABLE `batch_uploads` ADD `stats` text;