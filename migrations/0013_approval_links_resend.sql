-- Approval links can be re-sent (src/approvals/resend.ts): an approver may have several requests for one
-- step, of which at most one is pending (the live link); the rest are superseded or used.
DROP INDEX `approval_requests_step_approver`;--> statement-breakpoint
CREATE UNIQUE INDEX `approval_requests_pending` ON `approval_requests` (`batch_id`,`step`,`approver_sub`) WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX `approval_requests_step_approver` ON `approval_requests` (`batch_id`,`step`,`approver_sub`);