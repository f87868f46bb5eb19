// Query plans of the customer and segment paths (as test/query-plans.test.ts does for a batch's
// life): without statistics, local SQLite plans from the indexes alone, so a statement that reads a
// table whole shows up here on small data.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sweepSegmentEntries } from "../src/customers/segment-entries";
import { backfillSegments } from "../src/customers/segments";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { campaignSetup, orderPaid, postEvent } from "./helpers/campaign-factories";
import { recordPrepared, tableNames, tableScans } from "./helpers/query-plans";

/**
 * Statements that may scan: the cron's look-up of every org's active include_existing campaigns (a
 * small table), the cron's walk of the partial index of unfinished segment backfills, and erasure's
 * delete from the dev outbox (a local development table, empty in production).
 */
const ALLOWED = [/FROM campaigns c LEFT JOIN segment_campaign_runs/, /FROM segments WHERE backfilled = 0/, /DELETE FROM dev_outbox/];

describe("customers and segments, as the API, events and the sweeps run them", () => {
  it("read no table whole", async () => {
    const { seen, stop } = recordPrepared();
    try {
      const s = await campaignSetup(uniqueOrg("cqp"));
      const crm = await token({ org: s.org, sub: "crm", roles: ["integrator"] });
      const admin = await token({ org: s.org, roles: ["admin"] });
      const put = (id: string, body: unknown) => callJson(`/v1/customers/${id}`, { method: "PUT", token: crm, body });
      await put("P1", { email: "p1@example.com", phone: "+14155550101", attributes: { tier: "silver", birthday: "1990-01-02" } });
      const seg = await callJson("/v1/segments", { token: s.tokens.operator, body: { name: "Gold", condition: 'customer.attributes.tier == "gold"' } });
      const cmp = await callJson("/v1/campaigns", {
        token: s.tokens.operator,
        body: s.body({ trigger: { kind: "segment_entered", segment_id: seg.body.id, include_existing: true } }),
      });
      await callJson(`/v1/campaigns/${cmp.body.id}/activate`, { method: "POST", token: s.tokens.finance });
      await put("P1", { email: "p1@example.com", attributes: { tier: "gold", birthday: "1990-01-03" } });
      await callJson("/v1/customers/import", {
        token: crm,
        rawBody: "external_id,email,tier\nP2,p2@example.com,gold\nP3,bad,gold\n",
        headers: { "content-type": "text/csv" },
      });
      await postEvent(s.tokens.integrator, { ...orderPaid(), customer: { external_id: "P4", email: "p4@example.com", attributes: { tier: "gold" } } });
      await callJson("/v1/events/batch", { token: s.tokens.integrator, body: { events: [{ ...orderPaid(), customer: { external_id: "P2" } }] } });
      for (const path of ["/v1/customers", "/v1/customers?email=p1@example.com", `/v1/customers?segment_id=${seg.body.id}`, "/v1/customers/P1"]) {
        expect((await callJson(path, { token: s.tokens.support })).status, path).toBe(200);
      }
      for (const path of ["/v1/segments", `/v1/segments/${seg.body.id}`]) expect((await callJson(path, { token: s.tokens.operator })).status).toBe(200);
      await sweepSegmentEntries(env, new Date());
      await backfillSegments(env);
      expect((await callJson("/v1/customers/P1", { method: "DELETE", token: admin })).status).toBe(200);
    } finally {
      stop();
    }
    const tables = await tableNames();
    const scans: string[] = [];
    for (const sql of seen) {
      if (!/^\s*(SELECT|WITH|UPDATE|DELETE|INSERT)/i.test(sql) || ALLOWED.some((a) => a.test(sql))) continue;
      for (const line of await tableScans(sql, tables)) scans.push(`${line}: ${sql.replace(/\s+/g, " ").slice(0, 160)}`);
    }
    expect(seen.size).toBeGreaterThan(40);
    expect(scans).toEqual([]);
  }, 60_000);
});
