import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sweepSegmentEntries } from "../src/customers/segment-entries";
import { backfillSegments } from "../src/customers/segments";
import { SegmentSchema } from "../src/routes/customers/customers.schemas";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { activeCampaign, campaignSetup, orderPaid, postEvent } from "./helpers/campaign-factories";

const put = (t: string, id: string, body: unknown) => callJson(`/v1/customers/${encodeURIComponent(id)}`, { method: "PUT", token: t, body });

async function setup() {
  const s = await campaignSetup(uniqueOrg("seg"));
  const crm = await token({ org: s.org, sub: "crm", roles: ["integrator"] });
  return { ...s, crm };
}
type Setup = Awaited<ReturnType<typeof setup>>;

async function createSegment(s: Setup, condition = 'customer.attributes.tier == "gold"') {
  const res = await callJson("/v1/segments", { token: s.tokens.operator, body: { name: "Gold", condition } });
  if (res.status !== 201) throw new Error(`segment: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

async function segmentCampaign(s: Setup, segmentId: string, extra: Record<string, unknown> = {}, activate = true) {
  const created = await callJson("/v1/campaigns", {
    token: s.tokens.operator,
    body: s.body({ name: "Welcome to gold", trigger: { kind: "segment_entered", segment_id: segmentId, ...extra } }),
  });
  if (created.status !== 201) throw new Error(`campaign: ${created.status} ${JSON.stringify(created.body)}`);
  if (activate) expect((await callJson(`/v1/campaigns/${created.body.id}/activate`, { method: "POST", token: s.tokens.finance })).status).toBe(200);
  return created.body.id as string;
}

async function rewarded(s: Setup, campaignId: string): Promise<number> {
  return (await callJson(`/v1/campaigns/${campaignId}`, { token: s.tokens.support })).body.counts.rewarded;
}

describe("segments", () => {
  it("type-checks the condition when saved: 400 with the position, and `event` is not in scope", async () => {
    const s = await setup();
    const broken = await callJson("/v1/segments", { token: s.tokens.operator, body: { name: "Broken", condition: 'customer.attributes.tier == "gold" &&' } });
    expect(broken.status).toBe(400);
    expect(broken.body.code).toBe("validation_failed");
    expect(broken.body.errors[0]).toMatchObject({ pointer: "/condition", code: "rule_invalid", position: expect.any(Number) });
    const eventful = await callJson("/v1/segments", { token: s.tokens.operator, body: { name: "E", condition: 'event.type == "x"' } });
    expect(eventful.status).toBe(400);
    expect(eventful.body.errors[0]).toMatchObject({ pointer: "/condition", position: 0 });
    const notBool = await callJson("/v1/segments", { token: s.tokens.operator, body: { name: "N", condition: '"gold" + "en"' } });
    expect(notBool.status).toBe(400);
    // A profile field is typed: text is not a condition, and a misspelt field is not a field.
    for (const condition of ["customer.name", "customer.last_seen_at", 'customer.nmae == "Ann"']) {
      const res = await callJson("/v1/segments", { token: s.tokens.operator, body: { name: "T", condition } });
      expect(res.status, condition).toBe(400);
      expect(res.body.errors[0]).toMatchObject({ pointer: "/condition", code: "rule_invalid" });
    }
    for (const condition of ['customer.name == "Ann" || customer.time_zone != ""', "customer.attributes.vip"]) {
      const res = await callJson("/v1/segments", { token: s.tokens.operator, body: { name: "T", condition } });
      expect(res.status, condition).toBe(201);
    }
    expect((await callJson("/v1/segments", { token: s.tokens.support, body: { name: "G", condition: "true" } })).status).toBe(403);
    const id = await createSegment(s);
    const list = await callJson("/v1/segments", { token: s.tokens.admin });
    expect(SegmentSchema.array().safeParse(list.body.data).success).toBe(true);
    expect(list.body.data).toContainEqual(expect.objectContaining({ id, name: "Gold", condition: 'customer.attributes.tier == "gold"', backfilled: true }));
    expect(list.body.data).toHaveLength(3);
  });

  it("sorts in the customers stored before the segment, and lists its members", async () => {
    const s = await setup();
    await put(s.crm, "M1", { email: "m1@example.com", attributes: { tier: "gold" } });
    await put(s.crm, "M2", { email: "m2@example.com", attributes: { tier: "silver" } });
    const seg = await createSegment(s);
    expect((await callJson(`/v1/segments/${seg}`, { token: s.tokens.operator })).body).toMatchObject({ backfilled: true, members: 1 });
    const members = await callJson(`/v1/customers?segment_id=${seg}`, { token: s.tokens.operator });
    expect(members.body.data.map((c: { external_id: string }) => c.external_id)).toEqual(["M1"]);
    const detail = await callJson("/v1/customers/M1", { token: s.tokens.support });
    expect(detail.body.segments).toEqual([{ segment_id: seg, entries: 1, entered_at: expect.any(String) }]);
  });

  it("segment_entered fires once per entry, and again after leaving and re-entering", async () => {
    const s = await setup();
    const seg = await createSegment(s);
    const cmp = await segmentCampaign(s, seg);
    await put(s.crm, "G1", { email: "g1@example.com", attributes: { tier: "gold" } });
    expect(await rewarded(s, cmp)).toBe(1);
    // Still inside: no new entry, whatever else changes (also through events).
    await put(s.crm, "G1", { email: "g1@example.com", name: "Gil", attributes: { tier: "gold", visits: 4 } });
    await postEvent(s.tokens.integrator, { ...orderPaid(), customer: { external_id: "G1", attributes: { visits: 5 } } });
    expect(await rewarded(s, cmp)).toBe(1);
    // Leaves (by an event), re-enters (by the CRM): a second entry, a second reward.
    await postEvent(s.tokens.integrator, { ...orderPaid(), customer: { external_id: "G1", attributes: { tier: "silver" } } });
    expect(await rewarded(s, cmp)).toBe(1);
    await put(s.crm, "G1", { email: "g1@example.com", attributes: { tier: "gold" } });
    expect(await rewarded(s, cmp)).toBe(2);
    const member = await env.DB.prepare("SELECT inside, entries, fired FROM segment_members WHERE org = ? AND segment_id = ? AND external_id = 'G1'")
      .bind(s.org, seg)
      .first();
    expect(member).toEqual({ inside: 1, entries: 2, fired: 2 });
    // A rerun of the sweep finds nothing to do, and the evaluation records are the event pipeline's.
    await sweepSegmentEntries(env, new Date());
    expect(await rewarded(s, cmp)).toBe(2);
    const events = await env.DB.prepare("SELECT id, type, created_by FROM campaign_events WHERE org = ? AND type LIKE 'segment_entered/%' ORDER BY id")
      .bind(s.org)
      .all<{ id: string; type: string; created_by: string }>();
    expect(events.results.map((e) => e.id.replace(/:[0-9a-f]{24}:/, ":H:"))).toEqual([`segment:${seg}:H:1`, `segment:${seg}:H:2`]);
    expect(events.results[0]).toMatchObject({ type: `segment_entered/${seg}`, created_by: "system:segments" });
    const record = await callJson(`/v1/events/${encodeURIComponent(events.results[0]!.id)}`, { token: s.tokens.support });
    expect(record.body.outcomes).toEqual([expect.objectContaining({ campaign_id: cmp, outcome: "rewarded", amount: 1000 })]);
  });

  it("an event whose customer enters a segment is evaluated by its own campaigns and fires the segment's", async () => {
    const s = await setup();
    const seg = await createSegment(s);
    const entered = await segmentCampaign(s, seg);
    const ordered = await activeCampaign(s);
    const events = [0, 1].map(() => ({ ...orderPaid(), customer: { external_id: "EV-G", email: "evg@example.com", attributes: { tier: "gold" } } }));
    const batch = await callJson("/v1/events/batch", { token: s.tokens.integrator, body: { events } });
    expect(batch.body.data.map((d: { outcomes: { campaign_id: string; outcome: string }[] }) => d.outcomes)).toEqual([
      [{ campaign_id: ordered, outcome: "rewarded", delivery_id: expect.any(String) }],
      [{ campaign_id: ordered, outcome: "rewarded", delivery_id: expect.any(String) }],
    ]);
    // Two events in one request, one entry: one segment reward.
    expect(await rewarded(s, entered)).toBe(1);
  });

  it("an entry re-evaluated after a lost request rewards nobody twice", async () => {
    const s = await setup();
    const seg = await createSegment(s);
    const cmp = await segmentCampaign(s, seg);
    await put(s.crm, "R1", { email: "r1@example.com", attributes: { tier: "gold" } });
    expect(await rewarded(s, cmp)).toBe(1);
    // As if the request died after evaluating but before marking the entry fired.
    await env.DB.prepare("UPDATE segment_members SET fired = 0 WHERE org = ? AND external_id = 'R1'").bind(s.org).run();
    await sweepSegmentEntries(env, new Date());
    expect(await rewarded(s, cmp)).toBe(1);
    const member = await env.DB.prepare("SELECT fired FROM segment_members WHERE org = ? AND external_id = 'R1'").bind(s.org).first();
    expect(member).toEqual({ fired: 1 });
  });

  it("does not reward customers already inside at activation, unless the campaign includes them", async () => {
    const s = await setup();
    const seg = await createSegment(s);
    await put(s.crm, "OLD", { email: "old@example.com", attributes: { tier: "gold" } });
    const plain = await segmentCampaign(s, seg);
    await put(s.crm, "OLD", { email: "old@example.com", attributes: { tier: "gold", visits: 1 } });
    await sweepSegmentEntries(env, new Date());
    expect(await rewarded(s, plain)).toBe(0);
    // A newcomer is rewarded by both campaigns; the inclusive one also takes in the old member, once.
    const inclusive = await segmentCampaign(s, seg, { include_existing: true });
    await put(s.crm, "NEW", { email: "new@example.com", attributes: { tier: "gold" } });
    expect(await rewarded(s, plain)).toBe(1);
    expect(await rewarded(s, inclusive)).toBe(1);
    await sweepSegmentEntries(env, new Date());
    expect(await rewarded(s, inclusive)).toBe(2);
    await sweepSegmentEntries(env, new Date());
    expect(await rewarded(s, inclusive)).toBe(2);
    expect(await rewarded(s, plain)).toBe(1);
    const run = await env.DB.prepare("SELECT done FROM segment_campaign_runs WHERE campaign_id = ?").bind(inclusive).first();
    expect(run).toEqual({ done: 1 });
  });

  it("entries of an import beyond the first few are evaluated by the sweep", async () => {
    const s = await setup();
    const seg = await createSegment(s);
    const cmp = await segmentCampaign(s, seg);
    const rows = Array.from({ length: 25 }, (_, i) => `I${String(i).padStart(2, "0")},i${i}@example.com,gold`);
    const res = await callJson("/v1/customers/import", {
      token: s.crm,
      rawBody: `external_id,email,tier\n${rows.join("\n")}\n`,
      headers: { "content-type": "text/csv" },
    });
    expect(res.body).toMatchObject({ rows: 25, created: 25, segment_entries: 25 });
    expect(await rewarded(s, cmp)).toBe(20);
    await sweepSegmentEntries(env, new Date());
    expect(await rewarded(s, cmp)).toBe(25);
  });

  it("a segment saved while customers exist is sorted in by the sweep page by page, firing nothing", async () => {
    const s = await setup();
    const seg = await createSegment(s, "customer.attributes.visits >= 3");
    const cmp = await segmentCampaign(s, seg);
    // As if the segment were saved over a large table: the sweep picks it up from the start.
    await put(s.crm, "B1", { email: "b1@example.com", attributes: { visits: 5 } });
    expect(await rewarded(s, cmp)).toBe(1);
    await env.DB.prepare("UPDATE segments SET backfilled = 0, backfill_after = NULL WHERE id = ?").bind(seg).run();
    await env.DB.prepare(
      "INSERT INTO customers (org, external_id, identity_key, attributes, created_at, updated_at) VALUES (?1, 'B2', 'ext:B2', '{\"visits\":7}', ?2, ?2)",
    )
      .bind(s.org, new Date().toISOString())
      .run();
    await backfillSegments(env);
    expect((await callJson(`/v1/segments/${seg}`, { token: s.tokens.operator })).body).toMatchObject({ backfilled: true, members: 2 });
    await sweepSegmentEntries(env, new Date());
    expect(await rewarded(s, cmp)).toBe(1);
  });
});

describe("the segment list", () => {
  it("pages like every list: limit, next_cursor, and 400 for a bad limit or cursor", async () => {
    const s = await campaignSetup(uniqueOrg("segp"));
    for (const name of ["A", "B", "C"]) {
      expect((await callJson("/v1/segments", { token: s.tokens.operator, body: { name, condition: "true" } })).status).toBe(201);
    }
    const first = await callJson("/v1/segments?limit=2", { token: s.tokens.operator });
    expect(first.body.data.map((x: { name: string }) => x.name)).toEqual(["C", "B"]);
    const rest = await callJson(`/v1/segments?limit=2&cursor=${first.body.next_cursor}`, { token: s.tokens.operator });
    expect(rest.body).toMatchObject({ data: [{ name: "A" }], next_cursor: null });
    expect((await callJson("/v1/segments?limit=600", { token: s.tokens.operator })).status).toBe(400);
    expect((await callJson("/v1/segments?cursor=bogus", { token: s.tokens.operator })).status).toBe(400);
  });
});
