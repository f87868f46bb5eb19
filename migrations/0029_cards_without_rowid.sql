-- Hand-written (drizzle-kit cannot express WITHOUT ROWID): cards rebuilt as a WITHOUT ROWID table keyed by id,
-- and without the unique index on delivery_id (joins reach a delivery's card by the id derived from the
-- delivery's, cardIdSql in src/delivery/rewards.ts). A rowid table with a text key is two B-trees; with the
-- delivery index gone too, an issued card writes its row, cards_code_hmac and (when it expires) cards_due.
-- Same columns and other indexes as after 0028. test/schema.without-rowid.test.ts checks the table stays so.
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_cards` (
	`id` text NOT NULL PRIMARY KEY,
	`org` text NOT NULL,
	`product_id` text NOT NULL,
	`delivery_id` text NOT NULL,
	`currency` text NOT NULL,
	`initial_amount` integer NOT NULL,
	`balance` integer NOT NULL,
	`ciphertext` text NOT NULL,
	`iv` text NOT NULL,
	`key_version` integer NOT NULL,
	`code_hmac` text NOT NULL,
	`status` text NOT NULL,
	`expires_at` text,
	`created_at` text NOT NULL,
	`available` integer DEFAULT 0 NOT NULL,
	`pending` integer DEFAULT 0 NOT NULL,
	`redeemed` integer DEFAULT 0 NOT NULL,
	`expired` integer DEFAULT 0 NOT NULL,
	`reversed` integer DEFAULT 0 NOT NULL,
	`base_reversed` integer DEFAULT 0 NOT NULL,
	`credited` integer DEFAULT 0 NOT NULL,
	`credits` text,
	`txn_seq` integer DEFAULT 0 NOT NULL,
	`updated_at` text,
	`bonus_expires_at` text
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_cards` (`id`, `org`, `product_id`, `delivery_id`, `currency`, `initial_amount`, `balance`, `ciphertext`, `iv`, `key_version`, `code_hmac`, `status`, `expires_at`, `created_at`, `available`, `pending`, `redeemed`, `expired`, `reversed`, `base_reversed`, `credited`, `credits`, `txn_seq`, `updated_at`, `bonus_expires_at`)
SELECT `id`, `org`, `product_id`, `delivery_id`, `currency`, `initial_amount`, `balance`, `ciphertext`, `iv`, `key_version`, `code_hmac`, `status`, `expires_at`, `created_at`, `available`, `pending`, `redeemed`, `expired`, `reversed`, `base_reversed`, `credited`, `credits`, `txn_seq`, `updated_at`, `bonus_expires_at` FROM `cards`;--> statement-breakpoint
DROP TABLE `cards`;--> statement-breakpoint
ALTER TABLE `__new_cards` RENAME TO `cards`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `cards_code_hmac` ON `cards` (`code_hmac`);--> statement-breakpoint
CREATE INDEX `cards_credited` ON `cards` (`org`) WHERE credits IS NOT NULL;--> statement-breakpoint
CREATE INDEX `cards_due` ON `cards` (`expires_at`) WHERE status IN ('active', 'frozen', 'exhausted') AND expires_at IS NOT NULL;
