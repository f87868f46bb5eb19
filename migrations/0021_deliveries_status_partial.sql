DROP INDEX `deliveries_batch_status`;--> statement-breakpoint
DROP INDEX `deliveries_org_status`;--> statement-breakpoint
CREATE INDEX `deliveries_batch_status` ON `deliveries` (`batch_id`,`status`,`id`) WHERE status <> 'delivered';--> statement-breakpoint
CREATE INDEX `deliveries_org_status` ON `deliveries` (`org`,`status`,`updated_at`) WHERE status <> 'delivered';