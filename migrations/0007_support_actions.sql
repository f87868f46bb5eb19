ALTER TABLE `inventory_codes` ADD `voided_at` text;--> statement-breakpoint
CREATE INDEX `deliveries_reissue_of` ON `deliveries` (`reissue_of`) WHERE reissue_of IS NOT NULL;