// The recipients insert expands rows with jsonb_each where SQLite has it and json_each elsewhere
// (production D1's version is not documented); both must store exactly the same rows.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { BatchRow } from "../src/batches/batch-state";
import { insertStatements } from "../src/batches/recipients.store";
import type { CheckedRecipient } from "../src/batches/recipients.validate";
import { jsonEachFunction } from "../src/db/json-rows";
import { uniqueOrg } from "./helpers/api";

const rows: CheckedRecipient[] = [
  {
    externalId: "E-1", name: 'Ann "Quote", Jr.', email: "ann@example.com", phone: "+14155550123", country: "US", amount: 2500, amountRaw: null,
    currency: "USD", fields: JSON.stringify({ message: "Thanks\u00e9 ✓" }), emailKey: "ann@example.com", phoneKey: "+14155550123", status: "valid", reasons: [],
  },
  {
    externalId: null, name: null, email: "broken", phone: null, country: null, amount: null, amountRaw: "12.5", currency: "USD", fields: null,
    emailKey: null, phoneKey: null, status: "invalid", reasons: ["email_invalid", "amount_invalid"],
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
    await env.DB.batch(insertStatements(env.DB, "jsonb_each", viaJsonb, "upl_b", rows, 1));
    await env.DB.batch(insertStatements(env.DB, "json_each", viaJson, "upl_t", rows, 1));
    const [b, t] = [await stored(viaJsonb.id), await stored(viaJson.id)];
    expect(b).toHaveLength(2);
    expect(b).toEqual(t);
    expect(b[0]).toMatchObject({ row_no: 1, name: 'Ann "Quote", Jr.', amount: 2500, fields: JSON.stringify({ message: "Thanks\u00e9 ✓" }), reasons: "[]" });
    expect(b[1]).toMatchObject({ row_no: 2, amount: null, amount_raw: "12.5", status: "invalid", reasons: '["email_invalid","amount_invalid"]' });
    // Ids look like every other id (prefix, time part, 16 more characters) and ascend with the row.
    const ids = (await env.DB.prepare("SELECT id FROM batch_recipients WHERE batch_id = ? ORDER BY row_no").bind(viaJsonb.id).all<{ id: string }>()).results.map((r) => r.id);
    for (const id of ids) expect(id).toMatch(/^rcp_[0-9a-hjkmnp-tv-z]{26}$/);
    expect([...ids].sort()).toEqual(ids);
  });
});
