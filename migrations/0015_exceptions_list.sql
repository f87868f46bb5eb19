-- The exceptions list reads newest first in id order (all, by status, or of one batch) instead of sorting
-- every exception of the org for each page.
CREATE INDEX `exceptions_org_id` ON `exceptions` (`org`,`id`);--> statement-breakpoint
CREATE INDEX `exceptions_org_status_id` ON `exceptions` (`org`,`status`,`id`);--> statement-breakpoint
CREATE INDEX `exceptions_batch_id` ON `exceptions` (`batch_id`,`id`);