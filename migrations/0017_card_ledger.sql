-- Stored-value card ledger (issue #20): the D1 mirror of each card's Durable Object. `redemptions` is WITHOUT
-- ROWID (hand edit: drizzle cannot express it) so a redemption costs its row and one index entry.
CREATE TABLE `redemptions` (
	`org` text NOT NULL,
	`id` text NOT NULL,
	`card_id` text NOT NULL,
	`reference` text NOT NULL,
	`status` text NOT NULL,
	`currency` text NOT NULL,
	`requested` integer NOT NULL,
	`amount` integer NOT NULL,
	`captured` integer NOT NULL,
	`refunded` integer NOT NULL,
	`hold_expires_at` text,
	`created_by` text NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`seq` integer NOT NULL,
	PRIMARY KEY(`org`, `id`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE INDEX `redemptions_card` ON `redemptions` (`card_id`,`reference`);--> statement-breakpoint
ALTER TABLE `cards` ADD `available` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `cards` ADD `pending` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `cards` ADD `redeemed` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `cards` ADD `expired` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `cards` ADD `reversed` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `cards` ADD `base_reversed` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `cards` ADD `credited` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `cards` ADD `credits` text;--> statement-breakpoint
ALTER TABLE `cards` ADD `txn_seq` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `cards` ADD `updated_at` text;--> statement-breakpoint
CREATE INDEX `cards_code_hmac` ON `cards` (`code_hmac`);--> statement-breakpoint
CREATE INDEX `cards_credited` ON `cards` (`org`) WHERE credits IS NOT NULL;--> statement-breakpoint
CREATE INDEX `cards_due` ON `cards` (`expires_at`) WHERE status IN ('active', 'frozen', 'exhausted') AND expires_at IS NOT NULL;--> statement-breakpoint
-- Cards issued before the ledger: their unspent value is their balance.
UPDATE `cards` SET `available` = `balance` WHERE `status` = 'active';