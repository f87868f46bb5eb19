-- Hand-written. 0019 rebuilt `deliveries` with `SELECT … "campaign_id", "event_id" … FROM deliveries`
-- although the old table had neither column; SQLite (as D1 runs it) reads an unknown double-quoted
-- identifier as a string literal, so databases that held deliveries before 0019 got the text
-- 'campaign_id' / 'event_id' in every batch delivery. 0019 now selects NULL; this repairs databases
-- that already applied the old text (batch deliveries have a batch_id and no campaign).
UPDATE `deliveries` SET `campaign_id` = NULL WHERE `campaign_id` = 'campaign_id';--> statement-breakpoint
UPDATE `deliveries` SET `event_id` = NULL WHERE `event_id` = 'event_id';
