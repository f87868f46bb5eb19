import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { openExceptions } from "../src/exceptions/exceptions.open";
import { periodKey } from "../src/reports/sql";
import { call, callJson, token } from "./helpers/api";
import { approvalOrg, submit } from "./helpers/approval-factories";
import { seedBatch, uploadCsv } from "./helpers/batch-factories";
import { waitForBatch } from "./helpers/delivery-factories";

type Org = Awaited<ReturnType<typeof approvalOrg>>;
const all = async (q: string, ...p: unknown[]) =>
  (
    await env.DB.prepare(q)
      .bind(...p)
      .all<any>()
  ).results;
/** Nearest rank: the value at rank ceil(p × n). */
const rank = (values: number[], p: number) => (values.length ? [...values].sort((a, b) => a - b)[Math.ceil(p * values.length) - 1]! : null);

/** A stored-value batch through the real flow: upload, submit, approvals by `approvers`; auto-released unless nobody approves. */
async function batchThrough(o: Org, meta: Record<string, string>, amounts: number[], approvers: string[]) {
  const { batchId } = await seedBatch(o.org, { product: { kind: "stored_value" }, batch: { ...meta, expected_count: amounts.length } });
  const csv = ["external_id,email,country,amount", ...amounts.map((a, i) => `${meta.campaign}-${i},${meta.campaign}${i}@example.com,US,${a}`)].join("\n");
  expect((await uploadCsv(batchId, o.tokens.operator, csv)).status).toBe(200);
  await submit(batchId, o.tokens.operator);
  for (const who of approvers) {
    const res = await callJson(`/v1/batches/${batchId}/approvals`, { token: o.tokens[who as "fran"], body: { decision: "approve" } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  }
  if (approvers.length) expect(await waitForBatch(batchId, ["completed", "completed_with_errors"])).toBe("completed");
  return batchId;
}

function group<T>(rows: T[], key: (r: T) => string, amount: (r: T) => number) {
  const out = new Map<string, { amount: number; deliveries: number }>();
  for (const r of rows) {
    const g = out.get(key(r)) ?? { amount: 0, deliveries: 0 };
    out.set(key(r), { amount: g.amount + amount(r), deliveries: g.deliveries + 1 });
  }
  return [...out].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => ({ key: k, currency: "USD", ...v }));
}

describe("period keys", () => {
  /** ISO 8601 week of a UTC date, worked out in JS from the week's Thursday. */
  function isoWeek(iso: string): string {
    const d = new Date(`${iso.slice(0, 10)}T00:00:00Z`);
    const thursday = new Date(d.getTime() + (3 - ((d.getUTCDay() + 6) % 7)) * 86_400_000);
    const jan1 = Date.UTC(thursday.getUTCFullYear(), 0, 1);
    return `${thursday.getUTCFullYear()}-W${String(Math.floor((thursday.getTime() - jan1) / 86_400_000 / 7) + 1).padStart(2, "0")}`;
  }

  it("names weeks as ISO 8601 does, across year ends", async () => {
    const known: [string, string][] = [
      ["2026-12-06T23:59:59.999Z", "2026-W49"], // a Sunday
      ["2026-12-07T00:00:00.000Z", "2026-W50"], // the Monday after
      ["2027-01-01T10:00:00.000Z", "2026-W53"], // a Friday in the week of 2026's last Thursday
      ["2024-12-30T10:00:00.000Z", "2025-W01"], // a Monday in the week of 2025's first Thursday
      ["2026-01-01T00:00:00.000Z", "2026-W01"],
    ];
    const days = Array.from({ length: 800 }, (_, i) => new Date(Date.UTC(2024, 11, 1) + i * 86_400_000).toISOString());
    for (const at of [...known.map(([d]) => d), ...days]) {
      const row = await env.DB.prepare(`SELECT ${periodKey("?1", "week")} AS k`)
        .bind(at)
        .first<{ k: string }>();
      expect(row!.k, at).toBe(known.find(([d]) => d === at)?.[1] ?? isoWeek(at));
    }
    for (const [at, week] of known) expect(isoWeek(at)).toBe(week);
  });
});

describe("GET /v1/reports/summary", () => {
  let o: Org;
  let backdated: string;
  beforeAll(async () => {
    o = await approvalOrg({
      steps: [
        { role: "finance", quorum: 1 },
        { role: "owner", quorum: 1, min_total: 6000 },
      ],
    });
    const spring = await batchThrough(o, { campaign: "spring", cost_center: "CC-1", channel: "link" }, [2500, 2500, 3000], ["fran", "olga"]);
    backdated = await batchThrough(o, { campaign: "autumn", cost_center: "CC-2", channel: "email" }, [1000, 1500, 700], ["fay"]);
    await batchThrough(o, { campaign: "winter", cost_center: "CC-2", channel: "link" }, [2000], []);
    // Outcomes the happy path does not produce: a failed delivery with its exception, a reversed one, an older month.
    const [failed] = await all("SELECT id FROM deliveries WHERE batch_id = ? ORDER BY id LIMIT 1", spring);
    await env.DB.prepare("UPDATE deliveries SET status = 'failed', delivered_at = NULL WHERE id = ?").bind(failed.id).run();
    await openExceptions(env.DB, [
      { org: o.org, kind: "delivery_failed", severity: "medium", entityType: "delivery", entityId: failed.id, batchId: spring, detail: "bounced" },
    ])!.run();
    await env.DB.prepare("UPDATE deliveries SET created_at = '2026-01-15T09:00:00.000Z', delivered_at = '2026-01-15T09:00:02.500Z' WHERE batch_id = ?")
      .bind(backdated)
      .run();
    await env.DB.prepare("UPDATE deliveries SET status = 'reversed' WHERE id = (SELECT id FROM deliveries WHERE batch_id = ? ORDER BY id LIMIT 1)")
      .bind(backdated)
      .run();
  });

  const report = async (query = "", roles = ["finance"]) => {
    const res = await callJson(`/v1/reports/summary${query}`, { token: await token({ org: o.org, roles }) });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  };

  it("matches spend, delivery, exception and approval figures computed from the raw rows", async () => {
    const rows = await all("SELECT d.*, b.campaign, b.cost_center FROM deliveries d JOIN batches b ON b.id = d.batch_id WHERE d.org = ?", o.org);
    const r = await report("?period=month");
    const delivered = rows.filter((d) => d.status === "delivered");
    expect(r.spend.total).toEqual([{ currency: "USD", amount: delivered.reduce((s, d) => s + d.amount, 0), deliveries: delivered.length }]);
    expect(r.spend.by_campaign).toEqual(
      group(
        delivered,
        (d) => d.campaign,
        (d) => d.amount,
      ),
    );
    expect(r.spend.by_cost_center).toEqual(
      group(
        delivered,
        (d) => d.cost_center,
        (d) => d.amount,
      ),
    );
    expect(r.spend.by_pool).toEqual(
      group(
        delivered,
        (d) => d.pool_id,
        (d) => d.amount,
      ),
    );
    expect(r.spend.by_period).toEqual(
      group(
        delivered,
        (d) => d.delivered_at.slice(0, 7),
        (d) => d.amount,
      ),
    );
    expect(r.spend.by_period.map((p: any) => p.key)).toContain("2026-01");
    const reversed = rows.filter((d) => d.status === "reversed");
    expect(reversed.length).toBeGreaterThan(0);
    expect(r.spend.reversed).toEqual([{ currency: "USD", amount: reversed.reduce((s, d) => s + d.amount, 0), deliveries: reversed.length }]);

    for (const channel of ["email", "link"]) {
      const mine = rows.filter((d) => d.channel === channel && d.status !== "reissued");
      const reached = mine.filter((d) => ["delivered", "reversed"].includes(d.status)).length;
      const failed = mine.filter((d) => d.status === "failed").length;
      const times = mine.filter((d) => d.delivered_at).map((d) => Date.parse(d.delivered_at) - Date.parse(d.created_at));
      expect(r.delivery.by_channel.find((c: any) => c.channel === channel)).toEqual({
        channel,
        deliveries: mine.length,
        reached,
        failed,
        pending: mine.length - reached - failed,
        success_rate: reached / (reached + failed),
        time_to_deliver_ms: { samples: times.length, p50: rank(times, 0.5), p95: rank(times, 0.95) },
      });
    }

    const exceptions = await all("SELECT * FROM exceptions WHERE org = ?", o.org);
    const withException = rows.filter((d) => exceptions.some((e) => e.entity_id === d.id)).length;
    expect(r.exceptions).toMatchObject({ deliveries: rows.length, deliveries_with_exception: withException, rate: withException / rows.length });
    expect(r.exceptions.open_by_kind).toEqual([
      { kind: "delivery_failed", count: exceptions.filter((e) => e.status === "open" && e.kind === "delivery_failed").length },
    ]);

    const flows = await all("SELECT * FROM approval_flows WHERE org = ?", o.org);
    const decisions = await all("SELECT * FROM approval_decisions WHERE org = ?", o.org);
    const latency = (step: number) =>
      decisions
        .filter((d) => d.step === step)
        .map((d) => {
          const flow = flows.find((f) => f.batch_id === d.batch_id);
          const prev = decisions
            .filter((p) => p.batch_id === d.batch_id && p.step === step - 1 && p.decision === "approve")
            .map((p) => p.created_at)
            .sort()
            .at(-1);
          return Date.parse(d.created_at) - Date.parse(prev ?? flow.submitted_at);
        });
    expect(r.approvals.by_step).toEqual([
      { step: 0, role: "finance", decisions: 2, latency_ms: { p50: rank(latency(0), 0.5), p95: rank(latency(0), 0.95) } },
      { step: 1, role: "owner", decisions: 1, latency_ms: { p50: rank(latency(1), 0.5), p95: rank(latency(1), 0.95) } },
    ]);
    const transitions = await all("SELECT * FROM batch_transitions WHERE org = ? ORDER BY batch_id, seq", o.org);
    const toApproved = transitions
      .filter((t) => t.to_status === "approved")
      .map((a) => {
        const s = transitions.filter((t) => t.batch_id === a.batch_id && t.to_status === "submitted" && t.seq < a.seq).at(-1);
        return Date.parse(a.created_at) - Date.parse(s.created_at);
      });
    expect(r.approvals.submitted_to_approved).toEqual({ batches: 2, latency_ms: { p50: rank(toApproved, 0.5), p95: rank(toApproved, 0.95) } });
    expect(r.approvals.waiting).toMatchObject({ batches: 1, by_step: [{ step: 0, batches: 1 }] });
  });

  it("limits spend and deliveries to the window and groups spend by day", async () => {
    const r = await report("?from=2026-01-15&to=2026-01-16&period=day");
    expect(r.window).toEqual({ from: "2026-01-15T00:00:00.000Z", to: "2026-01-16T00:00:00.000Z", period: "day" });
    const back = await all("SELECT * FROM deliveries WHERE batch_id = ? AND status = 'delivered'", backdated);
    expect(r.spend.by_period).toEqual([{ key: "2026-01-15", currency: "USD", amount: back.reduce((s, d) => s + d.amount, 0), deliveries: back.length }]);
    expect(r.delivery.by_channel).toEqual([
      expect.objectContaining({ channel: "email", deliveries: 3, reached: 3, time_to_deliver_ms: { samples: 3, p50: 2500, p95: 2500 } }),
    ]);
    expect((await callJson("/v1/reports/summary?from=2026-02-01&to=2026-01-01", { token: await token({ org: o.org, roles: ["auditor"] }) })).status).toBe(400);
  });

  it("reports how often and how soon cards are redeemed, by campaign and by channel", async () => {
    const shop = await token({ org: o.org, sub: "shop", roles: ["integrator"] });
    const cards = await all(
      `SELECT d.card_id, d.delivered_at, d.channel, b.campaign FROM deliveries d JOIN batches b ON b.id = d.batch_id
       WHERE d.org = ? AND d.card_id IS NOT NULL AND d.status IN ('delivered', 'reversed') ORDER BY d.id`,
      o.org,
    );
    const spring = cards.filter((c) => c.campaign === "spring");
    const autumn = cards.filter((c) => c.campaign === "autumn" && c.delivered_at);
    expect(spring).toHaveLength(2);
    // One spring card redeemed twice (the first counts), one autumn card only held and voided (not a redemption).
    const redeem = (card: string, reference: string, capture = true) =>
      callJson("/v1/redemptions", { token: shop, body: { card_id: card, amount: 100, currency: "USD", reference, capture } });
    expect((await redeem(spring[0].card_id, "r-1")).status).toBe(201);
    expect((await redeem(spring[0].card_id, "r-2")).status).toBe(201);
    const hold = await redeem(autumn[0].card_id, "h-1", false);
    expect((await callJson(`/v1/redemptions/${hold.body.id}/void`, { method: "POST", token: shop })).status).toBe(200);

    const [first] = await all("SELECT MIN(created_at) AS at FROM redemptions WHERE card_id = ? AND captured > 0", spring[0].card_id);
    const waited = Date.parse(first.at) - Date.parse(spring[0].delivered_at);
    const r = await report();
    const campaign = (k: string) => r.redemptions.by_campaign.find((x: any) => x.campaign === k);
    expect(campaign("spring")).toEqual({
      campaign: "spring",
      cards: 2,
      redeemed_cards: 1,
      redemption_rate: 0.5,
      time_to_first_redemption_ms: { samples: 1, p50: waited, p95: waited },
    });
    expect(campaign("autumn")).toMatchObject({ cards: 3, redeemed_cards: 0, redemption_rate: 0, time_to_first_redemption_ms: { samples: 0, p50: null } });
    expect(r.redemptions.by_channel.find((x: any) => x.channel === "link")).toMatchObject({ cards: 2, redeemed_cards: 1, redemption_rate: 0.5 });
    expect(r.redemptions.by_channel.find((x: any) => x.channel === "email")).toMatchObject({ cards: 3, redeemed_cards: 0 });
    const csv = await (await call("/v1/reports/summary", { token: await token({ org: o.org, roles: ["finance"] }), headers: { accept: "text/csv" } })).text();
    expect(csv).toContain("redemptions,campaign,spring,,redemption_rate,0.5");
  });

  it("exports CSV with one figure per line, and is open to finance, operators and auditors only", async () => {
    const res = await call("/v1/reports/summary", { token: await token({ org: o.org, roles: ["operator"] }), headers: { accept: "text/csv" } });
    expect(res.status).toBe(200);
    const lines = (await res.text()).trim().split("\r\n");
    expect(lines[0]).toBe("section,dimension,key,currency,metric,value");
    const json = await report("", ["auditor"]);
    const spring = json.spend.by_campaign.find((s: any) => s.key === "spring");
    expect(lines).toContain(`spend,campaign,spring,USD,amount,${spring.amount}`);
    expect(lines).toContain(`approvals,waiting,all,,batches,1`);
    expect(lines).toContain(`reversed,total,all,USD,amount,${json.spend.reversed[0].amount}`);
    expect((await call("/v1/reports/summary", { token: await token({ org: o.org, roles: ["support", "admin"] }) })).status).toBe(403);
  });
});
