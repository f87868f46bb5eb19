// Query plans, as local workerd's SQLite makes them: without statistics (D1 has none unless ANALYZE
// has run), so its choices rest on the indexes alone. A plan that reads every org's rows, or a
// whole batch once per key, passes every functional test on small data and fails at scale.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { listAudit } from "../src/audit/audit.query";
import { nearDuplicates } from "../src/batches/preview.stats";
import { lookupKeyFacts } from "../src/batches/recipients.lookup";
import type { CheckedRecipient, ValidationContext } from "../src/batches/recipients.validate";
import { deliveryRows } from "../src/support/deliveries.query";
import { listExceptions } from "../src/exceptions/exceptions.query";
import { encodeCursor } from "../src/core/pagination";
import { expireDueCards } from "../src/cards/expiry";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { approvedBatch, financeToken } from "./helpers/reconciliation-factories";
import { plan, recordPrepared, tableNames, tableScans } from "./helpers/query-plans";

/** A D1 that records the SQL it prepares. */
function recording() {
  const seen: string[] = [];
  const d1 = {
    prepare: (sql: string) => {
      seen.push(sql);
      return env.DB.prepare(sql);
    },
    batch: (statements: D1PreparedStatement[]) => env.DB.batch(statements),
  } as unknown as D1Database;
  return { d1, seen };
}

describe("a batch's whole life, as the API and the queues run it", () => {
  it("reads no table whole: every statement finds its rows through an index", async () => {
    // The Worker runs in this isolate, so recording D1's prepare here sees every statement it makes.
    const { seen, stop } = recordPrepared();
    try {
      const org = uniqueOrg();
      // Inventory codes (uploaded, assigned, sent) and stored-value cards, by email, link and SMS.
      const { batchId } = await approvedBatch(org, { recipients: 4, amount: 2500 });
      const cards = await approvedBatch(org, { recipients: 3, amount: 1000, kind: "stored_value", channel: "link" });
      await approvedBatch(org, { recipients: 2, amount: 5000, channel: "sms" });
      const readers = [await token({ org, roles: ["support"] }), await financeToken(org), await token({ org, roles: ["auditor"] })];
      const paths = [
        "/v1/deliveries",
        `/v1/deliveries?batch_id=${batchId}`,
        "/v1/deliveries?recipient_email=a@example.com",
        "/v1/deliveries?recipient_phone=%2B14155550123",
        "/v1/exceptions",
        `/v1/batches/${batchId}`,
        `/v1/batches/${batchId}/deliveries`,
        `/v1/batches/${batchId}/recipients`,
        `/v1/batches/${batchId}/preview`,
        `/v1/batches/${batchId}/approvals`,
        "/v1/audit",
        "/v1/audit/verify",
        "/v1/reports/summary",
        "/v1/pools",
        "/v1/products",
        "/v1/reconciliations",
      ];
      for (const path of paths) for (const t of readers) await callJson(path, { token: t });
      // Stored-value cards: redemption, look-up by code, lists, the liability report, the expiry cron.
      const card = (await env.DB.prepare("SELECT card_id FROM deliveries WHERE batch_id = ? LIMIT 1").bind(cards.batchId).first<{ card_id: string }>())!
        .card_id;
      const shop = await token({ org, roles: ["integrator"] });
      const held = await callJson("/v1/redemptions", {
        token: shop,
        body: { card_id: card, amount: 100, currency: "USD", reference: "plan-1", capture: false },
      });
      await callJson(`/v1/redemptions/${held.body.id}/capture`, { token: shop, body: {} });
      await callJson("/v1/cards/lookup", { token: shop, body: { code: "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE" } });
      const cardPaths = [
        "/v1/cards",
        "/v1/cards?status=active",
        `/v1/cards?batch_id=${cards.batchId}`,
        "/v1/cards?recipient_email=a@example.com",
        "/v1/cards?campaign_id=holiday",
        "/v1/cards?expiring_before=2030-01-01",
        `/v1/cards/${card}`,
        `/v1/cards/${card}/transactions`,
        `/v1/redemptions?card_id=${card}`,
        "/v1/redemptions?reference=plan-1",
        "/v1/reports/liability",
      ];
      for (const path of cardPaths) expect((await callJson(path, { token: readers[1] })).status, path).toBe(200);
      expect(held.status).toBe(201);
      await expireDueCards(env, new Date());
      expect((await callJson("/v1/reconciliations", { method: "POST", token: readers[1] })).status).toBe(201);
    } finally {
      stop();
    }
    const tables = await tableNames();
    const scans: string[] = [];
    for (const sql of seen) {
      if (!/^\s*(SELECT|WITH|UPDATE|DELETE|INSERT)/i.test(sql)) continue;
      for (const line of await tableScans(sql, tables)) scans.push(`${line}: ${sql.replace(/\s+/g, " ").slice(0, 160)}`);
    }
    expect(seen.size).toBeGreaterThan(80);
    expect(scans).toEqual([]);
  }, 60_000);
});

describe("the audit log", () => {
  it("reads one entity's history through (org, entity_id), not by walking the org's whole log", async () => {
    const { d1, seen } = recording();
    await listAudit(d1, "org_plans", { entityId: "bat_plans" }, 50);
    expect(await plan(seen[0]!)).toEqual(["SEARCH audit_events USING INDEX audit_events_entity (org=? AND entity_id=?)", "USE TEMP B-TREE FOR ORDER BY"]);
  });
});

describe("queries that find recipients by key in one batch", () => {
  // Uploads and the preview look recipients up by key within one batch, once per key. Should SQLite
  // walk the batch's rows instead of probing the key index, an upload turns quadratic: when the table
  // was tried WITHOUT ROWID (its key then held every column), SQLite 3.51 did exactly that and a
  // 10,000-row bench ran at 312 rows/s.
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

describe("support's delivery search by recipient, status or batch", () => {
  it("starts from the key index and the recipient's deliveries, not from every delivery of the org", async () => {
    for (const filter of [{ recipient_email: "Ann@Example.com" }, { recipient_phone: "+14155550123" }]) {
      const { d1, seen } = recording();
      await deliveryRows(d1, "org_plans", filter, 51);
      const lines = await plan(seen[0]!);
      const key = filter.recipient_email ? "email" : "phone";
      expect(lines[0]).toBe(`SEARCH batch_recipients USING INDEX batch_recipients_${key} (${key}_key=?)`);
      expect(lines[1]).toBe("SEARCH deliveries USING INDEX deliveries_recipient (recipient_id=?)");
    }
  });

  it("reads a rare status through (org, status), and delivered ones by walking newest first", async () => {
    const planOf = async (status: "failed" | "delivered") => {
      const { d1, seen } = recording();
      await deliveryRows(d1, "org_plans", { status }, 51);
      return (await plan(seen[0]!)).filter((l) => !l.includes("delivery_attempts") && !l.includes("SUBQUERY"));
    };
    expect((await planOf("failed"))[0]).toBe("SEARCH deliveries USING INDEX deliveries_org_status (org=? AND status=?)");
    expect((await planOf("delivered"))[0]).toBe("SEARCH deliveries USING INDEX deliveries_org_id (org=?)");
  });

  it("reads a batch's deliveries from the batch in id order, with or without a status, not by walking the org", async () => {
    const cases = [
      [undefined, "deliveries_batch_id (batch_id=? AND id<?)"],
      ["delivered", "deliveries_batch_id (batch_id=? AND id<?)"],
      ["failed", "deliveries_batch_status (batch_id=? AND status=? AND id<?)"],
    ] as const;
    for (const [status, index] of cases) {
      const { d1, seen } = recording();
      await deliveryRows(d1, "org_plans", { batch_id: "bat_plans", status }, 51, "dlv_zzzz");
      const lines = await plan(seen[0]!);
      expect(lines[0]).toBe(`SEARCH deliveries USING INDEX ${index}`);
      expect(lines).not.toContain("USE TEMP B-TREE FOR ORDER BY");
    }
  });

  it("finds an external id through each of the org's batches, not through every delivery", async () => {
    const { d1, seen } = recording();
    await deliveryRows(d1, "org_plans", { external_id: "E-1" }, 51);
    const lines = await plan(seen[0]!);
    expect(lines[0]).toBe("SEARCH batch_recipients USING INDEX batch_recipients_external (batch_ref=? AND external_id=?)");
    expect(lines.filter((l) => l.startsWith("SEARCH batches USING"))).toEqual([expect.stringMatching(/INDEX batches_org\w* \(org=\?\)$/)]);
    expect(lines).toContain("SEARCH deliveries USING INDEX deliveries_recipient (recipient_id=?)");
  });
});

describe("the exceptions list", () => {
  it("reads newest first in id order, all, by status or of one batch, instead of sorting the org's exceptions", async () => {
    const cases = [
      [{}, "exceptions_org_id (org=? AND id<?)"],
      [{ status: "open" as const }, "exceptions_org_status_id (org=? AND status=? AND id<?)"],
      [{ kind: "delivery_failed" }, "exceptions_org_id (org=? AND id<?)"],
      [{ batch_id: "bat_plans", status: "resolved" as const }, "exceptions_batch_id (batch_id=? AND id<?)"],
    ] as const;
    for (const [filter, index] of cases) {
      const { d1, seen } = recording();
      await listExceptions(d1, "org_plans", { ...filter, limit: 50, cursor: encodeCursor("exc", `exc_${"z".repeat(26)}`) });
      const lines = await plan(seen[0]!);
      expect(lines[0]).toBe(`SEARCH exceptions USING INDEX ${index}`);
      expect(lines).not.toContain("USE TEMP B-TREE FOR ORDER BY");
    }
  });
});
