-- Stored-value cards' own audit trail (issue #20): one row per mirror flush of a card's Durable Object, chained per card.
-- WITHOUT ROWID is a hand edit (drizzle cannot express it): the key is the row, so a flush costs one row written.
CREATE TABLE `card_audit` (
	`card_id` text NOT NULL,
	`seq` integer NOT NULL,
	`org` text NOT NULL,
	`first_seq` integer NOT NULL,
	`txns` text NOT NULL,
	`prev_hash` text NOT NULL,
	`hash` text NOT NULL,
	`created_at` text NOT NULL,
	PRIMARY KEY(`card_id`, `seq`)
) WITHOUT ROWID;
--> statement-breakpoint
ALTER TABLE `cards` ADD `bonus_expires_at` text;