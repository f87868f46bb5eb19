// Uploads and the preview look recipients up by key within one batch, once per key. Should SQLite
// walk the batch's rows instead of probing the key index, an upload turns quadratic: when the table
// was tried WITHOUT ROWID (its key then held every column), SQLite 3.51 did exactly that without
// statistics and a 10,000-row bench ran at 312 rows/s. The plans must name the key indexes.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { nearDuplicates } from "../src/batches/preview.stats";
import { lookupKeyFacts } from "../src/batches/recipients.lookup";
import type { CheckedRecipient, ValidationContext } from "../src/batches/recipients.validate";
import { deliveryRows } from "../src/support/deliveries.query";

/** A D1 that records the SQL it prepares. */
function recording() {
  const seen: string[] = [];
  const d1 = {
    prepare: (sql: string) => (seen.push(sql), env.DB.prepare(sql)),
    batch: (statements: D1PreparedStatement[]) => env.DB.batch(statements),
  } as unknown as D1Database;
  return { d1, seen };
}

async function plan(sql: string): Promise<string[]> {
  const params = Math.max(0, ...[...sql.matchAll(/\?(\d+)/g)].map((m) => Number(m[1])));
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...Array(params).fill(null)).all<{ detail: string }>();
  return results.map((r) => r.detail);
}

describe("queries that find recipients by key in one batch", () => {
  it("probe the email, phone and external-id indexes rather than walk the batch", async () => {
    const { d1, seen } = recording();
    const rows = [{ status: "valid", emailKey: "a@example.com", phoneKey: "+14155550123", externalId: "E-1" }] as CheckedRecipient[];
    const ctx = { org: "org_plans", batchId: "bat_plans", priorPayoutWindowDays: 0 } as ValidationContext;
    await lookupKeyFacts(d1, ctx, rows, { batchHasRows: true, orgHasSuppressions: false, orgHasRecentPayouts: false });
    expect(seen).toHaveLength(3);
    const plans = await Promise.all(seen.map(plan));
    expect(plans.map((p) => p.find((line) => line.includes("batch_recipients")))).toEqual([
      "SEARCH batch_recipients EXISTS USING INDEX batch_recipients_email (email_key=? AND batch_ref=?)",
      "SEARCH batch_recipients EXISTS USING INDEX batch_recipients_phone (phone_key=? AND batch_ref=?)",
      "SEARCH batch_recipients EXISTS USING INDEX batch_recipients_external (batch_ref=? AND external_id=?)",
    ]);
  });

  it("look up each dotted address's twins through the email index (the batch is walked once)", async () => {
    const { d1, seen } = recording();
    await nearDuplicates(d1, "bat_plans");
    const lines = await plan(seen[0]!);
    expect(lines).toContain("SEARCH r USING INDEX batch_recipients_email (email_key=? AND batch_ref=?)");
    expect(lines.filter((l) => l.includes("batch_recipients_row (batch_ref=?)"))).toHaveLength(2); // the CTE: the batch's rows, walked once per UNION ALL arm
  });
});

describe("support's delivery search by recipient email or phone", () => {
  it("starts from the key index and the recipient's deliveries, not from every delivery of the org", async () => {
    for (const filter of [{ recipient_email: "Ann@Example.com" }, { recipient_phone: "+14155550123" }]) {
      const { d1, seen } = recording();
      await deliveryRows(d1, "org_plans", filter, 51);
      const params = (seen[0]!.match(/\?/g) ?? []).length;
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${seen[0]}`).bind(...Array(params).fill(null)).all<{ detail: string }>();
      const lines = results.map((r) => r.detail);
      const key = filter.recipient_email ? "email" : "phone";
      expect(lines[0]).toBe(`SEARCH batch_recipients USING INDEX batch_recipients_${key} (${key}_key=?)`);
      expect(lines[1]).toBe("SEARCH deliveries USING INDEX deliveries_recipient (recipient_id=?)");
    }
  });
});
