// The delivery tables, cards and the webhook messages and attempts are WITHOUT ROWID (migrations 0024, 0025, 0029 and
// webhook_slow_lane, hand-edited: drizzle-kit cannot
// say so). A rowid table with a text key is two B-trees: every delivery and attempt would write, and
// every look-up read, one row more (test/bench/README.md, delivery). A drizzle migration that rebuilds
// one of them writes a plain CREATE TABLE and would undo that silently; this test says so instead.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("the delivery tables", () => {
  it.each(["deliveries", "delivery_attempts", "cards", "webhook_messages", "webhook_attempts"])("%s is WITHOUT ROWID", async (table) => {
    const row = await env.DB.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").bind(table).first<{ sql: string }>();
    expect(row?.sql).toMatch(/\)\s*WITHOUT ROWID\s*$/i);
  });

  it("writes one row for an attempt and one per index entry for a delivery, nothing for the key", async () => {
    const at = new Date().toISOString();
    const id = `dlv_${crypto.randomUUID()}`;
    const insert = await env.DB.prepare(
      `INSERT INTO deliveries (id, org, batch_id, recipient_id, pool_id, product_id, channel, amount, currency, status, item, created_at, updated_at)
       VALUES (?1, 'org_rows', 'bat_rows', 'rcp_rows', 'pool_x', 'prd_x', 'email', 100, 'USD', 'queued', ?1, ?2, ?2)`,
    )
      .bind(id, at)
      .run();
    // The row, then deliveries_batch_status, _batch_id, _org_status, _recipient and _org_id.
    expect(insert.meta.rows_written).toBe(6);
    const attempt = await env.DB.prepare(
      `INSERT INTO delivery_attempts (id, delivery_id, org, attempt_no, kind, channel, idempotency_key, outcome, actor, created_at)
       VALUES ('att_rows', ?1, 'org_rows', 1, 'send', 'email', ?1 || ':1', 'sent', 't', ?2)`,
    )
      .bind(id, at)
      .run();
    expect(attempt.meta.rows_written).toBe(1);
  });
});
