-- A batch's deliveries newest first, all or of one status (GET /v1/batches/{id}/deliveries, its CSV export,
-- GET /v1/deliveries?batch_id=), read in id order from the batch instead of walking the org's deliveries.
DROP INDEX `deliveries_batch_status`;--> statement-breakpoint
CREATE INDEX `deliveries_batch_id` ON `deliveries` (`batch_id`,`id`);--> statement-breakpoint
CREATE INDEX `deliveries_batch_status` ON `deliveries` (`batch_id`,`status`,`id`);