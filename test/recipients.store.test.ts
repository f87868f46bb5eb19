// The recipients insert expands rows with jsonb_each where SQLite has it and json_each elsewhere
// (production D1's version is not documented); both must store exactly the same rows.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { BatchRow } from "../src/batches/batch-state";
import { insertStatements } from "../src/batches/recipients.store";
import { MAX_BATCH_ROWS } from "../src/core/limits";
import type { CheckedRecipient } from "../src/batches/recipients.validate";
import { jsonEachFunction } from "../src/db/json-rows";
import { uniqueOrg } from "./helpers/api";

const rows: CheckedRecipient[] = [
  {
    externalId: "E-1",
    name: 'Ann "Quote", Jr.',
    email: "ann@example.com",
    phone: "+14155550123",
    country: "US",
    amount: 2500,
    amountRaw: null,
    currency: "USD",
    fields: JSON.stringify({ message: "Thanks\u00e9 ✓" }),
    emailKey: "ann@example.com",
    phoneKey: "+14155550123",
    status: "valid",
    reasons: [],
  },
  {
    externalId: null,
    name: null,
    email: "broken",
    phone: null,
    country: null,
    amount: null,
    amountRaw: "12.5",
    currency: "USD",
    fields: null,
    emailKey: null,
    phoneKey: null,
    status: "invalid",
    reasons: ["email_invalid", "amount_invalid"],
  },
  {
    externalId: "E-3",
    name: "Bob",
    email: "Bob@Example.COM",
    phone: "0415 555",
    country: "US",
    amount: 900,
    amountRaw: null,
    currency: "USD",
    fields: null,
    emailKey: "bob@example.com",
    phoneKey: null,
    status: "excluded",
    reasons: ["duplicate_in_batch"],
  },
];

async function stored(batchId: string) {
  const { results } = await env.DB.prepare(
    `SELECT row_no, external_id, name, email, phone, country, amount, amount_raw, currency, fields, email_key, phone_key, status, reasons
     FROM batch_recipients WHERE batch_id = ? ORDER BY row_no`,
  )
    .bind(batchId)
    .all();
  return results;
}

describe("recipient rows in D1", () => {
  it("stores the same rows through jsonb_each and json_each", async () => {
    expect(await jsonEachFunction(env.DB)).toBe("jsonb_each"); // local workerd's SQLite is ≥ 3.51
    const org = uniqueOrg();
    const viaJsonb = { id: `bat_${org}_b`, org } as BatchRow;
    const viaJson = { id: `bat_${org}_t`, org } as BatchRow;
    await env.DB.batch(insertStatements(env.DB, "jsonb_each", viaJsonb, "upl_b", rows, 41));
    await env.DB.batch(insertStatements(env.DB, "json_each", viaJson, "upl_t", rows, 41));
    const [b, t] = [await stored(viaJsonb.id), await stored(viaJson.id)];
    expect(b).toHaveLength(3);
    expect(b).toEqual(t);
    // The row JSON leaves out what SQL restores (row number, keys equal to the contact, "valid", no
    // reasons); every column must come back as the row had it.
    expect(b[0]).toEqual({
      row_no: 41,
      external_id: "E-1",
      name: 'Ann "Quote", Jr.',
      email: "ann@example.com",
      phone: "+14155550123",
      country: "US",
      amount: 2500,
      amount_raw: null,
      currency: "USD",
      fields: JSON.stringify({ message: "Thanks\u00e9 ✓" }),
      email_key: "ann@example.com",
      phone_key: "+14155550123",
      status: "valid",
      reasons: "[]",
    });
    expect(b[1]).toEqual({
      row_no: 42,
      external_id: null,
      name: null,
      email: "broken",
      phone: null,
      country: null,
      amount: null,
      amount_raw: "12.5",
      currency: "USD",
      fields: null,
      email_key: null,
      phone_key: null,
      status: "invalid",
      reasons: '["email_invalid","amount_invalid"]',
    });
    expect(b[2]).toEqual({
      row_no: 43,
      external_id: "E-3",
      name: "Bob",
      email: "Bob@Example.COM",
      phone: "0415 555",
      country: "US",
      amount: 900,
      amount_raw: null,
      currency: "USD",
      fields: null,
      email_key: "bob@example.com",
      phone_key: null,
      status: "excluded",
      reasons: '["duplicate_in_batch"]',
    });
    // Ids look like every other id (prefix, time part, 16 more characters), ascend with the row and
    // differ between the two batches (random tail).
    const ids = (
      await env.DB.prepare("SELECT id FROM batch_recipients WHERE batch_id = ? ORDER BY row_no").bind(viaJsonb.id).all<{ id: string }>()
    ).results.map((r) => r.id);
    for (const id of ids) expect(id).toMatch(/^rcp_[0-9a-hjkmnp-tv-z]{26}$/);
    expect([...ids].sort()).toEqual(ids);
    const other = (await env.DB.prepare("SELECT id FROM batch_recipients WHERE batch_id = ? ORDER BY row_no").bind(viaJson.id).all<{ id: string }>()).results;
    expect(new Set([...ids, ...other.map((r) => r.id)]).size).toBe(6);
  });

  it("has room in the id for every row number a batch may have", () => {
    // Five hex digits of row number keep ids 30 characters long and in row order.
    expect(MAX_BATCH_ROWS).toBeLessThan(16 ** 5);
  });
});
