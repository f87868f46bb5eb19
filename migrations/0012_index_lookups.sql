-- Lookups that read every org's rows: a delivery's inventory code (found again after a crash, freed on
-- failure, reissued), an upload's pending codes, and the summary report's approval times per org.
CREATE INDEX `approval_flows_org` ON `approval_flows` (`org`,`submitted_at`);--> statement-breakpoint
CREATE INDEX `batch_transitions_org` ON `batch_transitions` (`org`,`to_status`);--> statement-breakpoint
CREATE INDEX `inventory_codes_delivery` ON `inventory_codes` (`delivery_id`) WHERE delivery_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `inventory_codes_pending` ON `inventory_codes` (`upload_id`) WHERE status = 'pending';