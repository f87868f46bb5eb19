import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { activeCampaign, campaignSetup, orderPaid, postEvent } from "./helpers/campaign-factories";
import { approvedBatch } from "./helpers/reconciliation-factories";
import * as schemas from "../src/routes/customers/customers.schemas";

async function tokens(org: string) {
  return {
    admin: await token({ org, sub: "ada", roles: ["admin"] }),
    operator: await token({ org, sub: "otto", roles: ["operator"] }),
    integrator: await token({ org, sub: "crm", roles: ["integrator"] }),
    support: await token({ org, sub: "sue", roles: ["support"] }),
    auditor: await token({ org, sub: "aud", roles: ["auditor"] }),
  };
}

const put = (t: string, id: string, body: unknown) => callJson(`/v1/customers/${encodeURIComponent(id)}`, { method: "PUT", token: t, body });

describe("PUT /v1/customers/{external_id}", () => {
  it("creates (201) then replaces (200) a profile, canonicalising contact, country and time zone", async () => {
    const org = uniqueOrg("cus");
    const t = await tokens(org);
    const created = await put(t.integrator, "C-1", {
      email: " Ann@Example.com ",
      phone: "(415) 555-0132",
      country: "us",
      name: "Ann Lee",
      time_zone: "America/New_York",
      attributes: { birthday: "1990-07-14", tier: "gold", tags: ["vip", "early"], visits: 3 },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      external_id: "C-1",
      email: "Ann@Example.com",
      phone: "+14155550132",
      country: "US",
      time_zone: "America/New_York",
      attributes: { birthday: "1990-07-14", tier: "gold", tags: ["vip", "early"], visits: 3 },
      last_seen_at: null,
      rewards_received: { count: 0, totals: [], items: [] },
    });
    const dates = await env.DB.prepare("SELECT attribute, month_day FROM customer_dates WHERE org = ? AND external_id = 'C-1'").bind(org).all();
    expect(dates.results).toEqual([{ attribute: "birthday", month_day: "07-14" }]);

    // The CRM's record is the truth: what is left out is gone, the date row follows the attribute.
    const replaced = await put(t.operator, "C-1", { email: "ann@example.com", attributes: { birthday: "1990-08-01" } });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ phone: null, name: null, country: null, time_zone: null, attributes: { birthday: "1990-08-01" } });
    const after = await env.DB.prepare("SELECT month_day FROM customer_dates WHERE org = ? AND external_id = 'C-1'").bind(org).all();
    expect(after.results).toEqual([{ month_day: "08-01" }]);
  });

  it("answers 400 with a pointer and a code for each bad field", async () => {
    const t = await tokens(uniqueOrg("cus"));
    const res = await put(t.integrator, "C-2", {
      email: "not-an-email",
      phone: "12",
      country: "XX",
      time_zone: "Mars/Olympus_Mons",
      attributes: { prefs: { nested: true }, "bad-name": 1, ok: "fine" },
    });
    expect(res.status).toBe(400);
    expect(res.res.headers.get("content-type")).toContain("application/problem+json");
    expect(res.body.code).toBe("validation_failed");
    const byPointer = Object.fromEntries(res.body.errors.map((e: { pointer: string; code: string }) => [e.pointer, e.code]));
    expect(byPointer).toEqual({
      "/email": "email_invalid",
      "/phone": "phone_invalid",
      "/country": "country_invalid",
      "/time_zone": "time_zone_invalid",
      "/attributes/prefs": "attribute_invalid",
      "/attributes/bad-name": "attribute_invalid",
    });
    // Offsets are not zones, unknown fields are refused, and nothing was stored.
    expect((await put(t.integrator, "C-2", { time_zone: "+01:00" })).body.errors[0]).toMatchObject({ pointer: "/time_zone", code: "time_zone_invalid" });
    expect((await put(t.integrator, "C-2", { email: "a@b.co", tier: "gold" })).body.errors[0]).toMatchObject({ pointer: "/tier" });
    expect((await callJson("/v1/customers/C-2", { token: t.support })).status).toBe(404);
    const big = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`a${i}`, i]));
    expect((await put(t.integrator, "C-2", { attributes: big })).body.errors[0]).toMatchObject({ pointer: "/attributes", code: "attributes_too_large" });
  });

  it("needs integrator or operator to write, and keeps orgs apart", async () => {
    const t = await tokens(uniqueOrg("cus"));
    expect((await put(t.support, "C-3", { email: "c3@example.com" })).status).toBe(403);
    expect((await put(t.integrator, "C-3", { email: "c3@example.com" })).status).toBe(201);
    expect((await callJson("/v1/customers/C-3", { token: t.integrator })).status).toBe(403);
    const other = await tokens(uniqueOrg("cus"));
    expect((await callJson("/v1/customers/C-3", { token: other.support })).status).toBe(404);
    expect((await callJson("/v1/customers/C-3", { token: t.auditor })).status).toBe(200);
  });
});

describe("date attributes", () => {
  it("must be calendar dates: 400 at /attributes/<name> for PUT, a date_invalid row in an import, 400 for an event", async () => {
    const s = await campaignSetup(uniqueOrg("cda"));
    const t = await tokens(s.org);
    const refused = async (attributes: Record<string, unknown>) => {
      const res = await put(t.integrator, "D-1", { attributes });
      expect(res.status, JSON.stringify(attributes)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
      return res.body.errors.map((e: { pointer: string; code: string }) => [e.pointer, e.code]);
    };
    expect(await refused({ birthday: "1990-13-45" })).toEqual([["/attributes/birthday", "date_invalid"]]);
    expect(await refused({ birthday: "1991-02-29" })).toEqual([["/attributes/birthday", "date_invalid"]]);
    expect(await refused({ signup_date: "2026-1-2" })).toEqual([["/attributes/signup_date", "date_invalid"]]);
    expect(await refused({ anniversary: "July 14" })).toEqual([["/attributes/anniversary", "date_invalid"]]);
    expect(await refused({ first_order: "2026-04-31" })).toEqual([["/attributes/first_order", "date_invalid"]]);
    // A leap day of a leap year, a birthday without its year, a date-time, and text that is not date-shaped.
    const ok = await put(t.integrator, "D-1", {
      attributes: { birthday: "1992-02-29", anniversary: "--02-29", signup_date: "2026-01-02T10:00:00Z", tier: "gold" },
    });
    expect(ok.status).toBe(201);
    const rows = await env.DB.prepare("SELECT attribute, month_day FROM customer_dates WHERE org = ? ORDER BY attribute").bind(s.org).all();
    expect(rows.results).toEqual([
      { attribute: "anniversary", month_day: "02-29" },
      { attribute: "birthday", month_day: "02-29" },
      { attribute: "signup_date", month_day: "01-02" },
    ]);
    const csv = "external_id,birthday\nD-2,1990-13-45\nD-3,1990-12-24\n";
    const imported = await callJson("/v1/customers/import", { token: t.operator, rawBody: csv, headers: { "content-type": "text/csv" } });
    expect(imported.body).toMatchObject({ created: 1, invalid: 1, errors: [{ row: 1, external_id: "D-2", reasons: ["date_invalid"] }] });
    const event = await postEvent(s.tokens.integrator, { ...orderPaid(), customer: { external_id: "D-4", attributes: { birthday: "1990-13-45" } } });
    expect(event.status).toBe(400);
    expect(event.body.errors.map((e: { pointer: string }) => e.pointer)).toEqual(["/customer/attributes/birthday"]);
    expect((await callJson("/v1/customers/D-4", { token: t.support })).status).toBe(404);
  });
});

describe("GET /v1/customers", () => {
  it("pages by external id and finds by email like batch validation compares them", async () => {
    const org = uniqueOrg("cus");
    const t = await tokens(org);
    for (const id of ["b-2", "a-1", "c-3", "Zoë 4"]) await put(t.integrator, id, { email: `${id.replace(/\W/g, "")}@example.com` });
    const first = await callJson("/v1/customers?limit=2", { token: t.operator });
    // Binary order of the ids (what the primary key holds): upper case before lower case.
    expect(first.body.data.map((c: { external_id: string }) => c.external_id)).toEqual(["Zoë 4", "a-1"]);
    expect(schemas.CustomerSchema.array().safeParse(first.body.data).success).toBe(true);
    const second = await callJson(`/v1/customers?limit=2&cursor=${first.body.next_cursor}`, { token: t.operator });
    expect(second.body.data.map((c: { external_id: string }) => c.external_id)).toEqual(["b-2", "c-3"]);
    expect(second.body.next_cursor).toBeNull();
    const found = await callJson(`/v1/customers?email=${encodeURIComponent("B2+promo@EXAMPLE.com")}`, { token: t.support });
    expect(found.body.data.map((c: { external_id: string }) => c.external_id)).toEqual(["b-2"]);
    expect((await callJson("/v1/customers?cursor=bogus", { token: t.support })).status).toBe(400);
  });
});

describe("GET /v1/customers: rewards received", () => {
  it("gives each list item the count and totals of its rewards, campaign and batch, as the single GET does", async () => {
    const org = uniqueOrg("cls");
    await approvedBatch(org, { recipients: 1, amount: 2500 });
    const s = await campaignSetup(org);
    const t = await tokens(org);
    await activeCampaign(s);
    // The batch's recipient is `<org>0@example.com`; L-2 is that person, and also rewarded by the campaign.
    const l2 = { external_id: "L-2", email: `${org.toUpperCase()}0@example.com` };
    for (const customer of [{ external_id: "L-1", email: "l1@example.com" }, { external_id: "L-1", email: "l1@example.com" }, l2]) {
      expect((await postEvent(s.tokens.integrator, orderPaid({ customer }))).body.outcomes[0].outcome).toBe("rewarded");
    }
    await put(t.integrator, "L-3", { email: "l3@example.com" });
    const list = await callJson("/v1/customers", { token: t.support });
    expect(list.status).toBe(200);
    expect(schemas.CustomerListItemSchema.array().safeParse(list.body.data).success).toBe(true);
    const byId = Object.fromEntries(list.body.data.map((c: { external_id: string; rewards_received: unknown }) => [c.external_id, c.rewards_received]));
    expect(byId).toEqual({
      "L-1": { count: 2, totals: [{ currency: "USD", amount: 2000 }] },
      "L-2": { count: 2, totals: [{ currency: "USD", amount: 3500 }] },
      "L-3": { count: 0, totals: [] },
    });
    const detail = await callJson("/v1/customers/L-2", { token: t.support });
    expect({ count: detail.body.rewards_received.count, totals: detail.body.rewards_received.totals }).toEqual(byId["L-2"]);
    expect(detail.body.rewards_received.items).toHaveLength(2);
  });
});

describe("POST /v1/customers/import", () => {
  it("imports CSV rows, reports each refused row with its reasons, and audits counts only", async () => {
    const org = uniqueOrg("cus");
    const t = await tokens(org);
    await put(t.integrator, "E2", { email: "old@example.com", attributes: { tier: "bronze" } });
    const csv = [
      "External ID,email,phone,country,time_zone,birthday,tier",
      "E1,ann@example.com,,US,Europe/Paris,1990-02-28,gold",
      "E2,bob@example.com,+14155550133,US,,,silver",
      "E3,not-an-email,,US,,,",
      ",nobody@example.com,,US,,,",
      "E5,eve@example.com,,US,Moon/Base,,",
      "E6,fay@example.com,,US,,,gold,extra-cell",
      "",
      "E7,gus@example.com,555,ZZ,,,",
    ].join("\n");
    const res = await callJson("/v1/customers/import", { token: t.operator, rawBody: csv, headers: { "content-type": "text/csv" } });
    expect(res.status).toBe(200);
    expect(schemas.ImportResultSchema.safeParse(res.body).success).toBe(true);
    expect(res.body).toMatchObject({ format: "csv", rows: 7, created: 1, updated: 1, invalid: 5, blank_lines_skipped: 1, errors_truncated: false });
    expect(res.body.errors).toEqual([
      { row: 3, external_id: "E3", reasons: ["email_invalid"] },
      { row: 4, external_id: null, reasons: ["external_id_missing"] },
      { row: 5, external_id: "E5", reasons: ["time_zone_invalid"] },
      { row: 6, external_id: "E6", reasons: ["malformed_row"] },
      { row: 7, external_id: "E7", reasons: ["country_invalid", "phone_invalid"] },
    ]);
    const e1 = await callJson("/v1/customers/E1", { token: t.support });
    expect(e1.body).toMatchObject({ email: "ann@example.com", country: "US", time_zone: "Europe/Paris", attributes: { birthday: "1990-02-28", tier: "gold" } });
    const e2 = await callJson("/v1/customers/E2", { token: t.support });
    expect(e2.body).toMatchObject({ email: "bob@example.com", phone: "+14155550133", attributes: { tier: "silver" } });
    const audit = await env.DB.prepare("SELECT entity_id, after FROM audit_events WHERE org = ? AND action = 'customers.imported'")
      .bind(org)
      .first<{ entity_id: string; after: string }>();
    expect(audit?.entity_id).toBe(res.body.id);
    expect(JSON.parse(audit!.after)).toMatchObject({ rows: 7, created: 1, updated: 1, invalid: 5 });
    expect(audit!.after).not.toContain("example.com");
  });

  it("imports JSON, and refuses a CSV without an external_id column as a whole", async () => {
    const t = await tokens(uniqueOrg("cus"));
    const json = await callJson("/v1/customers/import", {
      token: t.integrator,
      body: {
        customers: [
          { external_id: "J1", email: "j1@example.com", attributes: { tier: "gold" } },
          { external_id: "J2", phone: "nope" },
        ],
      },
    });
    expect(json.body).toMatchObject({ format: "json", rows: 2, created: 1, invalid: 1, errors: [{ row: 2, external_id: "J2", reasons: ["phone_invalid"] }] });
    const bad = await callJson("/v1/customers/import", { token: t.integrator, rawBody: "email\na@example.com\n", headers: { "content-type": "text/csv" } });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe("invalid_csv");
    expect((await callJson("/v1/customers/import", { token: t.support, body: { customers: [{ external_id: "x" }] } })).status).toBe(403);
  });
});

describe("POST /v1/customers/import: repeated ids and empty files", () => {
  it("applies the first valid row of an external id and refuses later ones as duplicate_in_file (CSV and JSON)", async () => {
    const t = await tokens(uniqueOrg("cid"));
    const csv = [
      "external_id,email,tier",
      "R1,bad-email,gold",
      "R1,first@example.com,gold",
      "R2,r2@example.com,silver",
      "R1,second@example.com,bronze",
      "",
    ].join("\n");
    const res = await callJson("/v1/customers/import", { token: t.operator, rawBody: csv, headers: { "content-type": "text/csv" } });
    expect(res.status).toBe(200);
    expect(schemas.ImportResultSchema.safeParse(res.body).success).toBe(true);
    expect(res.body).toMatchObject({ rows: 4, created: 2, updated: 0, invalid: 1, excluded: 1 });
    expect(res.body.errors).toEqual([
      { row: 1, external_id: "R1", reasons: ["email_invalid"] },
      { row: 4, external_id: "R1", reasons: ["duplicate_in_file"] },
    ]);
    const r1 = await callJson("/v1/customers/R1", { token: t.support });
    expect(r1.body).toMatchObject({ email: "first@example.com", attributes: { tier: "gold" } });
    const json = await callJson("/v1/customers/import", {
      token: t.integrator,
      body: {
        customers: [
          { external_id: "J1", name: "One" },
          { external_id: "J1", name: "Two" },
        ],
      },
    });
    expect(json.body).toMatchObject({ created: 1, excluded: 1, errors: [{ row: 2, external_id: "J1", reasons: ["duplicate_in_file"] }] });
    expect((await callJson("/v1/customers/J1", { token: t.support })).body.name).toBe("One");
  });

  it("says an empty CSV file is empty (invalid_csv), as a recipient upload does, not that the Content-Type is missing", async () => {
    const t = await tokens(uniqueOrg("cid"));
    for (const rawBody of ["", "\n\n"]) {
      const res = await callJson("/v1/customers/import", { method: "POST", token: t.operator, rawBody, headers: { "content-type": "text/csv" } });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: "invalid_csv", detail: expect.stringContaining("empty") });
    }
    // No body and no Content-Type still names the header.
    const none = await callJson("/v1/customers/import", { method: "POST", token: t.operator });
    expect(none.status).toBe(400);
    expect(none.body.errors[0]).toMatchObject({ header: "Content-Type" });
  });
});

describe("events keep profiles current", () => {
  it("creates the profile, merges attributes, and a late event neither moves last_seen_at back nor overwrites newer data", async () => {
    const s = await campaignSetup(uniqueOrg("cev"));
    const t = await tokens(s.org);
    const customer = { external_id: "EV-1", email: "ev1@example.com", country: "US" };
    const later = "2026-12-05T10:00:00.000Z";
    const earlier = "2026-12-01T10:00:00.000Z";
    await postEvent(s.tokens.integrator, { ...orderPaid({ occurred_at: later }), customer: { ...customer, attributes: { tier: "gold", visits: 2 } } });
    // Arrives after, happened before: it fills gaps (name, first_order) and changes nothing newer.
    await postEvent(s.tokens.integrator, {
      ...orderPaid({ occurred_at: earlier }),
      customer: { external_id: "EV-1", email: "old@example.com", name: "Eve", attributes: { visits: 1, tier: null, first_order: "2026-12-01" } },
    });
    const got = await callJson("/v1/customers/EV-1", { token: t.support });
    expect(got.body).toMatchObject({
      email: "ev1@example.com",
      name: "Eve",
      country: "US",
      last_seen_at: later,
      attributes: { tier: "gold", visits: 2, first_order: "2026-12-01" },
    });
    // A newer event (through the batch route) updates, removes (null) and moves last_seen_at on.
    const batch = await callJson("/v1/events/batch", {
      token: s.tokens.integrator,
      body: { events: [{ ...orderPaid({ occurred_at: "2026-12-06T00:00:00Z" }), customer: { external_id: "EV-1", attributes: { visits: 3, tier: null } } }] },
    });
    expect(batch.status).toBe(202);
    const now = await callJson("/v1/customers/EV-1", { token: t.support });
    expect(now.body.last_seen_at).toBe("2026-12-06T00:00:00.000Z");
    expect(now.body.attributes).toEqual({ visits: 3, first_order: "2026-12-01" });
  });

  it("a late event does not overwrite a name a newer event set (o-2 today, then o-1 of the day before)", async () => {
    const s = await campaignSetup(uniqueOrg("cev"));
    const t = await tokens(s.org);
    const today = new Date();
    const at = (daysBack: number) => new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - daysBack, 1)).toISOString();
    const customer = { external_id: "EV-4", email: "ev4@example.com" };
    expect((await postEvent(s.tokens.integrator, { ...orderPaid({ id: "o-2", occurred_at: at(0) }), customer: { ...customer, name: "New" } })).status).toBe(
      202,
    );
    expect((await postEvent(s.tokens.integrator, { ...orderPaid({ id: "o-1", occurred_at: at(1) }), customer: { ...customer, name: "Old" } })).status).toBe(
      202,
    );
    const got = await callJson("/v1/customers/EV-4", { token: t.support });
    expect(got.body).toMatchObject({ name: "New", last_seen_at: at(0) });
    const listed = await callJson("/v1/customers", { token: t.support });
    expect(listed.body.data.find((c: { external_id: string }) => c.external_id === "EV-4")).toMatchObject({ name: "New" });
    // The same two events in one batch, and a late event whose offset puts it the day before.
    const other = { external_id: "EV-5", email: "ev5@example.com" };
    const batch = await callJson("/v1/events/batch", {
      token: s.tokens.integrator,
      body: {
        events: [
          { ...orderPaid({ id: "b-2", occurred_at: at(0) }), customer: { ...other, name: "New" } },
          { ...orderPaid({ id: "b-1", occurred_at: at(1).replace("Z", "+00:00") }), customer: { ...other, name: "Old", country: "FR" } },
        ],
      },
    });
    expect(batch.status).toBe(202);
    const got5 = await callJson("/v1/customers/EV-5", { token: t.support });
    expect(got5.body).toMatchObject({ name: "New", country: "FR", last_seen_at: at(0) });
  });

  it("in one request, an event older than the profile's last one only fills what the profile lacks", async () => {
    const s = await campaignSetup(uniqueOrg("cev"));
    const t = await tokens(s.org);
    const batch = await callJson("/v1/events/batch", {
      token: s.tokens.integrator,
      body: {
        events: [
          { ...orderPaid({ occurred_at: "2026-12-05T00:00:00Z" }), customer: { external_id: "EV-4", name: "New Name", attributes: { tier: "gold" } } },
          {
            ...orderPaid({ occurred_at: "2026-12-01T00:00:00Z" }),
            customer: { external_id: "EV-4", name: "Old Name", country: "CA", attributes: { tier: "silver", visits: 1 } },
          },
          { ...orderPaid({ occurred_at: "2026-12-02T00:00:00Z" }), customer: { external_id: "EV-5", name: "Only" } },
        ],
      },
    });
    expect(batch.status).toBe(202);
    const got = await callJson("/v1/customers/EV-4", { token: t.support });
    expect(got.body).toMatchObject({ name: "New Name", country: "CA", last_seen_at: "2026-12-05T00:00:00.000Z", attributes: { tier: "gold", visits: 1 } });
    expect((await callJson("/v1/customers/EV-5", { token: t.support })).body).toMatchObject({ name: "Only", last_seen_at: "2026-12-02T00:00:00.000Z" });
  });

  it("keeps a profile within its attribute limits however many keys events bring", async () => {
    const s = await campaignSetup(uniqueOrg("cev"));
    const t = await tokens(s.org);
    const many = (from: number) => Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${from + i}`, i]));
    await postEvent(s.tokens.integrator, { ...orderPaid(), customer: { external_id: "EV-3", attributes: { ...many(0), nested: { a: 1 } } } });
    await postEvent(s.tokens.integrator, { ...orderPaid(), customer: { external_id: "EV-3", attributes: { ...many(60), k0: "updated" } } });
    const got = await callJson("/v1/customers/EV-3", { token: t.support });
    // Nested values are not stored; new keys stop at 100; existing keys still update.
    expect(Object.keys(got.body.attributes)).toHaveLength(100);
    expect(got.body.attributes).toMatchObject({ k0: "updated", k99: 39 });
    expect(got.body.attributes).not.toHaveProperty("nested");
    expect(got.body.attributes).not.toHaveProperty("k100");
  });

  it("lets rules see the stored profile, and rewards the stored email when the event names only the id", async () => {
    const s = await campaignSetup(uniqueOrg("cev"));
    const t = await tokens(s.org);
    const id = await activeCampaign(s, { rules: 'customer.attributes.tier == "gold"' });
    await put(t.integrator, "EV-2", { email: "ev2@example.com", attributes: { tier: "gold" } });
    const res = await postEvent(s.tokens.integrator, { ...orderPaid(), customer: { external_id: "EV-2" } });
    expect(res.body.outcomes).toEqual([{ campaign_id: id, outcome: "rewarded", delivery_id: expect.stringMatching(/^dlv_/) }]);
    const detail = await callJson("/v1/customers/EV-2", { token: t.support });
    expect(detail.body.rewards_received).toMatchObject({
      count: 1,
      totals: [{ currency: "USD", amount: 1000 }],
      items: [{ source: "campaign", campaign_id: id }],
    });
  });
});

describe("DELETE /v1/customers/{external_id}", () => {
  it("forgets the person and keeps the amounts", async () => {
    const s = await campaignSetup(uniqueOrg("era"));
    const t = await tokens(s.org);
    const cmp = await activeCampaign(s);
    await put(t.integrator, "ER-1", { email: "erin@example.com", name: "Erin Doe", attributes: { birthday: "1985-03-02" } });
    const event = { ...orderPaid(), customer: { external_id: "ER-1", email: "erin@example.com", name: "Erin Doe" } };
    const res = await postEvent(s.tokens.integrator, event);
    const deliveryId = res.body.outcomes[0].delivery_id;
    expect(deliveryId).toMatch(/^dlv_/);
    expect((await callJson("/v1/customers/ER-1", { method: "DELETE", token: t.operator })).status).toBe(403);

    const erased = await callJson("/v1/customers/ER-1", { method: "DELETE", token: t.admin });
    expect(erased.status).toBe(200);
    expect(erased.body).toMatchObject({
      erased: true,
      pseudonym: expect.stringMatching(/^erased_/),
      scrubbed: { profile: 1, campaign_outcomes: 1, events: 1 },
    });
    const pseudonym = erased.body.pseudonym;
    expect((await callJson("/v1/customers/ER-1", { token: t.support })).status).toBe(404);
    expect((await callJson("/v1/customers/ER-1", { method: "DELETE", token: t.admin })).status).toBe(404);
    const dates = await env.DB.prepare("SELECT COUNT(*) AS n FROM customer_dates WHERE org = ? AND external_id = 'ER-1'").bind(s.org).first<{ n: number }>();
    expect(dates?.n).toBe(0);
    const outcome = await env.DB.prepare("SELECT name, email, phone, external_id, customer_key, amount FROM campaign_outcomes WHERE campaign_id = ?")
      .bind(cmp)
      .first();
    expect(outcome).toEqual({ name: null, email: null, phone: null, external_id: pseudonym, customer_key: pseudonym, amount: 1000 });
    const stored = await env.DB.prepare("SELECT payload, customer_key FROM campaign_events WHERE org = ? AND id = ?")
      .bind(s.org, event.id)
      .first<{ payload: string; customer_key: string }>();
    expect(stored?.customer_key).toBe(pseudonym);
    expect(stored?.payload).not.toContain("erin");
    expect(stored?.payload).not.toContain("Erin");
    expect(JSON.parse(stored!.payload).customer).toEqual({ external_id: pseudonym });
    // The money stays: the delivery and the campaign's committed budget are untouched.
    const d = await env.DB.prepare("SELECT amount, currency FROM deliveries WHERE id = ?").bind(deliveryId).first();
    expect(d).toEqual({ amount: 1000, currency: "USD" });
    const view = await callJson(`/v1/campaigns/${cmp}`, { token: s.tokens.support });
    expect(view.body.budget).toMatchObject({ committed: 1000 });
    // The audit entry names the pseudonym, never the person.
    const audit = await env.DB.prepare("SELECT entity_id, after FROM audit_events WHERE org = ? AND action = 'customer.erased'")
      .bind(s.org)
      .first<{ entity_id: string; after: string }>();
    expect(audit?.entity_id).toBe(pseudonym);
    expect(`${audit?.after}`).not.toMatch(/ER-1|erin/i);
    const chain = await callJson("/v1/audit/verify", { token: await token({ org: s.org, roles: ["auditor"] }) });
    expect(chain.body).toMatchObject({ valid: true });
  });
});

describe("batch payouts to a customer", () => {
  it("are listed as rewards received, and their recipient row is scrubbed by erasure once the batch is finished", async () => {
    const org = uniqueOrg("cbt");
    const t = await tokens(org);
    const b = await approvedBatch(org, { recipients: 1, amount: 2500 });
    // recipientsCsv names the recipient `<org>0@example.com`, external id `<org>-0`.
    await put(t.integrator, "B-1", { email: `${org.toUpperCase()}0@example.com` });
    const detail = await callJson("/v1/customers/B-1", { token: t.support });
    expect(detail.body.rewards_received).toMatchObject({
      count: 1,
      totals: [{ currency: "USD", amount: 2500 }],
      items: [{ source: "batch", batch_id: b.batchId, amount: 2500, delivery_status: "delivered" }],
    });
    // The answers are what the OpenAPI document says they are.
    expect(schemas.CustomerDetailSchema.safeParse(detail.body).success).toBe(true);
    const erased = await callJson("/v1/customers/B-1", { method: "DELETE", token: t.admin });
    expect(schemas.EraseResultSchema.safeParse(erased.body).success).toBe(true);
    expect(erased.body.scrubbed).toMatchObject({ profile: 1, batch_recipients: 1 });
    const row = await env.DB.prepare("SELECT name, email, email_key, external_id, amount FROM batch_recipients WHERE batch_id = ?").bind(b.batchId).first();
    expect(row).toEqual({ name: null, email: null, email_key: null, external_id: erased.body.pseudonym, amount: 2500 });
    const delivery = await env.DB.prepare("SELECT status, amount FROM deliveries WHERE batch_id = ?").bind(b.batchId).first();
    expect(delivery).toEqual({ status: "delivered", amount: 2500 });
  });
});

describe("campaign triggers name the org's segments", () => {
  it("refuses a segment_entered trigger whose segment is not the org's", async () => {
    const s = await campaignSetup(uniqueOrg("seg"));
    const res = await callJson("/v1/campaigns", { token: s.tokens.operator, body: s.body({ trigger: { kind: "segment_entered", segment_id: "seg_nope" } }) });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([expect.objectContaining({ pointer: "/trigger/segment_id", code: "not_found" })]);
  });
});
