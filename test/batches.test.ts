import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, callJson, uniqueOrg } from "./helpers/api";
import { batchBody, createProduct, orgTokens, seedBatch, uploadCsv } from "./helpers/batch-factories";
import { createPool } from "./helpers/factories";
import { MESSY_CSV, MESSY_EXPECTED } from "./fixtures/messy-recipients";
import type { RawBatch } from "../src/batches/recipients.parse";
import { uploadRecipients } from "../src/batches/recipients.upload";
import { AppError } from "../src/core/errors";

async function allRecipients(batchId: string, t: string, status?: string) {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const q: URLSearchParams = new URLSearchParams({ limit: "200", ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) });
    const res: { status: number; body: any } = await callJson(`/v1/batches/${batchId}/recipients?${q}`, { token: t });
    expect(res.status).toBe(200);
    out.push(...res.body.data);
    cursor = res.body.next_cursor;
  } while (cursor);
  return out;
}

async function messyBatch() {
  const org = uniqueOrg();
  const tokens = await orgTokens(org);
  const settings = await callJson("/v1/settings", {
    method: "PUT",
    token: tokens.admin,
    body: { allowed_countries: ["US", "CA"], per_recipient_caps: { USD: 40_000 } },
  });
  expect(settings.status).toBe(200);
  const sup = await callJson("/v1/suppressions", { token: tokens.admin, body: { entries: [{ email: "suppressed@example.com", reason: "opted out" }] } });
  expect(sup.status).toBe(201);
  const seeded = await seedBatch(org, { batch: { expected_count: 24 } });
  return { ...seeded, tokens };
}

describe("recipient upload and validation", () => {
  it("gives every row of a messy CSV exactly the expected status and reasons", async () => {
    const { tokens, batchId } = await messyBatch();
    const up = await uploadCsv(batchId, tokens.operator, MESSY_CSV);
    expect(up.status).toBe(200);
    expect(up.body.upload).toMatchObject({ rows: 24, valid: 6, invalid: 13, excluded: 5, blank_lines_skipped: 2, valid_amount: 17_500 });
    expect(up.body.batch.status).toBe("validated");
    const rows = await allRecipients(batchId, tokens.operator);
    expect(rows.map((r) => [r.external_id, r.status, r.reasons])).toEqual(MESSY_EXPECTED);
    expect(rows.map((r) => r.row)).toEqual(MESSY_EXPECTED.map((_, i) => i + 1));
    expect(rows[0]).toMatchObject({ name: "Lee, Ann", phone: "+14155550100", fields: { note: "thanks, Ann" } });
    expect(rows[1]).toMatchObject({ name: 'Bob "The Builder" Jones', country: "US", currency: "USD" });
    expect(rows[9]).toMatchObject({ amount: null, amount_raw: "12.50" });
    expect(rows[23]).toMatchObject({ phone: "+442079460958", name: "-Wes" });
  });

  it("equals a single upload when the same rows arrive in chunks", async () => {
    const header = "external_id,email,phone,country,amount";
    const rows = Array.from({ length: 300 }, (_, i) => {
      const person = i % 170; // rows 170..299 repeat earlier people, across chunk boundaries
      return `X${i},user${person}@Example.com,+1415555${String(1000 + (i % 200)).padStart(4, "0")},US,${500 + (i % 7) * 250}`;
    });
    const single = await seedBatch(uniqueOrg());
    const chunked = await seedBatch(uniqueOrg());
    const whole = await uploadCsv(single.batchId, single.tokens.operator, [header, ...rows].join("\n"));
    expect(whole.status).toBe(200);
    let last: any;
    for (const part of [rows.slice(0, 90), rows.slice(90, 201), rows.slice(201)]) {
      last = await uploadCsv(chunked.batchId, chunked.tokens.operator, `${[header, ...part].join("\n")}\n`);
      expect(last.status).toBe(200);
    }
    // Each upload answers the batch's counts so far: after the last chunk, the single upload's.
    expect(last.body.counts).toEqual(whole.body.counts);
    expect(whole.body.counts).toEqual(whole.body.batch.counts);
    expect(whole.body.counts.total).toBe(300);
    const a = await allRecipients(single.batchId, single.tokens.operator);
    const b = await allRecipients(chunked.batchId, chunked.tokens.operator);
    const shape = (r: any) => [r.row, r.external_id, r.email, r.phone, r.amount, r.status, r.reasons];
    expect(b.map(shape)).toEqual(a.map(shape));
    expect(a.filter((r) => r.status === "excluded").length).toBeGreaterThan(100);
    const [ga, gb] = await Promise.all([single, chunked].map((s) => callJson(`/v1/batches/${s.batchId}`, { token: s.tokens.operator })));
    expect(gb!.body.counts).toEqual(ga!.body.counts);
    expect(gb!.body.totals.valid_amount).toBe(ga!.body.totals.valid_amount);
    expect(gb!.body.content_version).toBe(3);
  });

  it("finds duplicates across the 5,000-row statements of one upload as across uploads", async () => {
    // One upload is stored in 5,000-row statements and keeps its own keys in memory; separate
    // uploads find earlier rows in D1. Both must mark the same rows duplicate.
    const header = "external_id,email,phone,country,amount";
    const phone = (k: number) => `+1415555${1000 + k}`;
    const rows = Array.from({ length: 12_000 }, (_, i) => {
      const email = `user${i < 10_000 ? i : i - 10_000}@example.com`; // rows 10,000.. repeat rows 0.. by email
      const tel = i >= 4_950 && i < 5_000 ? phone(i - 4_950) : i >= 5_000 && i < 5_050 ? phone(i - 5_000) : ""; // 5,000.. repeat 4,950.. by phone
      const external = i >= 9_990 && i < 10_000 ? `X${i - 9_990}` : `X${i}`; // 9,990.. repeat 0.. by external id
      return `${external},${email},${tel},US,${500 + (i % 7) * 250}`;
    });
    const single = await seedBatch(uniqueOrg());
    const split = await seedBatch(uniqueOrg());
    expect((await uploadCsv(single.batchId, single.tokens.operator, [header, ...rows].join("\n"))).status).toBe(200);
    for (const part of [rows.slice(0, 4_975), rows.slice(4_975, 9_995), rows.slice(9_995)]) {
      expect((await uploadCsv(split.batchId, split.tokens.operator, [header, ...part].join("\n"))).status).toBe(200);
    }
    const expected = [
      ...Array.from({ length: 50 }, (_, k) => 5_001 + k),
      ...Array.from({ length: 10 }, (_, k) => 9_991 + k),
      ...Array.from({ length: 2_000 }, (_, k) => 10_001 + k),
    ];
    for (const s of [single, split]) {
      const excluded = await allRecipients(s.batchId, s.tokens.operator, "excluded");
      expect(excluded.map((r) => r.row)).toEqual(expected);
      expect(new Set(excluded.map((r) => r.reasons.join()))).toEqual(new Set(["duplicate_in_batch"]));
      const counts = (await callJson(`/v1/batches/${s.batchId}`, { token: s.tokens.operator })).body.counts;
      expect(counts).toMatchObject({ valid: 12_000 - expected.length, excluded: expected.length });
    }
  });

  it("keeps each batch's rows to itself: the same people in another batch of the org are not duplicates", async () => {
    // Recipients' indexes name a batch by its small integer ref (migration 0011), so two batches
    // must never share one: a shared ref would list, count and dedupe their rows together.
    const org = uniqueOrg();
    const first = await seedBatch(org);
    const second = await seedBatch(org);
    expect(second.batchId).not.toBe(first.batchId);
    const csv = (from: number, to: number) =>
      ["external_id,email,country,amount", ...Array.from({ length: to - from }, (_, k) => `X${from + k},p${from + k}@example.com,US,1000`)].join("\n");
    for (const { batchId } of [first, second]) {
      expect((await uploadCsv(batchId, first.tokens.operator, csv(0, 30))).body.upload).toMatchObject({ valid: 30, excluded: 0 });
      // A second upload looks earlier rows up in D1: only this batch's count as duplicates.
      expect((await uploadCsv(batchId, first.tokens.operator, csv(25, 40))).body.upload).toMatchObject({ valid: 10, excluded: 5 });
    }
    for (const { batchId } of [first, second]) {
      const rows = await allRecipients(batchId, first.tokens.operator);
      expect(rows.map((r) => r.row)).toEqual(Array.from({ length: 45 }, (_, k) => k + 1));
      expect((await callJson(`/v1/batches/${batchId}`, { token: first.tokens.operator })).body.counts).toMatchObject({ valid: 40, excluded: 5 });
    }
    const refs = await env.DB.prepare("SELECT DISTINCT batch_ref FROM batch_recipients WHERE batch_id IN (?1, ?2)").bind(first.batchId, second.batchId).all();
    expect(refs.results).toHaveLength(2);
  });

  it("accepts JSON recipients and judges them like CSV rows", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const res = await callJson(`/v1/batches/${batchId}/recipients`, {
      token: tokens.operator,
      body: {
        recipients: [
          { external_id: "J1", email: "j1@example.com", country: "US", amount: 2500, fields: { message: "Thank you" } },
          { external_id: "J2", email: "j2@example.com", country: "US", amount: 25.5 },
          { external_id: "J3", email: "J1@EXAMPLE.com", country: "US", amount: 2500 },
        ],
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.upload).toMatchObject({ rows: 3, valid: 1, invalid: 1, excluded: 1 });
    const rows = await allRecipients(batchId, tokens.operator);
    expect(rows.map((r) => r.reasons)).toEqual([[], ["amount_invalid"], ["duplicate_in_batch"]]);
    expect(rows[0].fields).toEqual({ message: "Thank you" });
  });

  it("marks names and template fields with bidi overrides, zero-width, NEL or line separators invalid, as batch names are refused", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const bad = ["Ann\u202egpj.exe", "Bo\u200bb", "Cy\u2066x\u2069", "Di\u0085Line", "Ed\u2028Sep", "Fe\u00adlix"];
    const recipients = [
      ...bad.map((name, i) => ({ external_id: `N${i}`, name, email: `n${i}@example.com`, country: "US", amount: 2500 })),
      { external_id: "F1", name: "Flo", email: "f1@example.com", country: "US", amount: 2500, fields: { note: "hi\u202e there" } },
      { external_id: "F2", name: "Gus", email: "f2@example.com", country: "US", amount: 2500, fields: { note: "a\u2029b" } },
      { external_id: "OK", name: "🎁 Ünïcödé — Zoë", email: "ok@example.com", country: "US", amount: 2500, fields: { note: "ça va 👍" } },
      // A joiner that the script needs is part of the name (Persian ZWNJ, an emoji ZWJ sequence).
      { external_id: "OK2", name: "علی\u200cرضا", email: "ok2@example.com", country: "US", amount: 2500, fields: { note: "👩\u200d💻" } },
    ];
    const res = await callJson(`/v1/batches/${batchId}/recipients`, { token: tokens.operator, body: { recipients } });
    expect(res.status).toBe(200);
    expect(res.body.upload).toMatchObject({ rows: 10, valid: 2, invalid: 8 });
    const rows = await allRecipients(batchId, tokens.operator);
    expect(rows.map((r) => [r.external_id, r.status, r.reasons])).toEqual([
      ...bad.map((_, i) => [`N${i}`, "invalid", ["name_invalid"]]),
      ["F1", "invalid", ["field_invalid"]],
      ["F2", "invalid", ["field_invalid"]],
      ["OK", "valid", []],
      ["OK2", "valid", []],
    ]);
  });

  it("refuses unknown fields in JSON recipients", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const res = await callJson(`/v1/batches/${batchId}/recipients`, {
      token: tokens.operator,
      body: { recipients: [{ email: "a@example.com", country: "US", amount: 2500, status: "valid" }] },
    });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("validation_failed");
    expect(res.body.errors[0]).toMatchObject({ pointer: "/recipients/0/status", code: "unrecognized_keys" });
  });

  it("says which is missing when no recipients were sent: the Content-Type header or the JSON field", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const bare = await callJson(`/v1/batches/${batchId}/recipients`, { token: tokens.operator, method: "POST" });
    expect(bare.status).toBe(400);
    expect(bare.body.errors[0]).toMatchObject({ header: "Content-Type", code: "required" });
    const empty = await callJson(`/v1/batches/${batchId}/recipients`, { token: tokens.operator, body: {} });
    expect(empty.status).toBe(400);
    expect(empty.body.errors[0]).toMatchObject({ pointer: "/recipients" });
    // An empty CSV file is a file: it is empty, not a missing Content-Type.
    const emptyCsv = await callJson(`/v1/batches/${batchId}/recipients`, {
      token: tokens.operator,
      method: "POST",
      rawBody: "",
      headers: { "content-type": "text/csv" },
    });
    expect(emptyCsv.status).toBe(400);
    expect(emptyCsv.body).toMatchObject({ code: "invalid_csv", detail: expect.stringContaining("empty") });
  });

  it("costs one row for a quoted cell with a stray or missing closing quote: the rows after it are read as sent", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const csv = [
      "external_id,name,email,country,amount",
      'M1,"Stray"quote,m1@example.com,US,2500',
      "OK1,Ok,ok1@example.com,US,2500",
      'M2,"Unclosed,m2@example.com,US,2500',
      'OK2,"Smith, J",ok2@example.com,US,2500',
    ].join("\r\n");
    const res = await uploadCsv(batchId, tokens.operator, csv);
    expect(res.status).toBe(200);
    expect(res.body.upload).toMatchObject({ rows: 4, valid: 2, invalid: 2 });
    const rows = await allRecipients(batchId, tokens.operator);
    expect(rows.map((r) => [r.row, r.external_id, r.status, r.reasons.includes("malformed_row")])).toEqual([
      [1, "M1", "invalid", true],
      [2, "OK1", "valid", false],
      [3, "M2", "invalid", true],
      [4, "OK2", "valid", false],
    ]);
    expect(rows[3]).toMatchObject({ name: "Smith, J", email: "ok2@example.com" });
  });

  it("keeps a draft batch draft when no row is valid", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const res = await uploadCsv(batchId, tokens.operator, "email,country,amount\nnope,US,2500\n");
    expect(res.status).toBe(200);
    expect(res.body.batch.status).toBe("draft");
    expect(res.body.batch.counts).toEqual({ total: 1, valid: 0, invalid: 1, excluded: 0 });
  });

  it("refuses a CSV without the required header columns and stores nothing", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const res = await uploadCsv(batchId, tokens.operator, "name,country\nAnn,US\n");
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("invalid_csv");
    const b = await callJson(`/v1/batches/${batchId}`, { token: tokens.operator });
    expect(b.body.counts.total).toBe(0);
    expect(b.body.upload_in_progress).toBe(false);
  });

  it("refuses an upload once the batch has left draft/validated, with 409 invalid_state_transition", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    expect((await uploadCsv(batchId, tokens.operator, "email,country,amount\na@example.com,US,2500\n")).status).toBe(200);
    const cancelled = await callJson(`/v1/batches/${batchId}/cancel`, { token: tokens.operator, body: { reason: "wrong list" } });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe("cancelled");
    const again = await uploadCsv(batchId, tokens.operator, "email,country,amount\nb@example.com,US,2500\n");
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("invalid_state_transition");
    const b = await callJson(`/v1/batches/${batchId}`, { token: tokens.operator });
    expect(b.body.counts.total).toBe(1);
  });

  it("refuses a second upload while one holds the batch's lease", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const future = new Date(Date.now() + 60_000).toISOString();
    await env.DB.prepare("UPDATE batches SET uploading_id = 'upl_other', uploading_until = ? WHERE id = ?").bind(future, batchId).run();
    const res = await uploadCsv(batchId, tokens.operator, "email,country,amount\na@example.com,US,2500\n");
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("conflict");
  });

  it("deletes the rows of an upload that fails after earlier chunks were stored, and frees the lease", async () => {
    const org = uniqueOrg();
    const { tokens, batchId } = await seedBatch(org);
    // Chunks as the CSV reader yields them; the third read fails (as a broken body would), while
    // the second chunk's insert may still be in flight.
    async function* source(): AsyncGenerator<RawBatch> {
      for (let c = 0; c < 2; c++) {
        yield { rows: Array.from({ length: 3000 }, (_, i) => ({ email: `u${c}-${i}@example.com`, country: "US", amount: "2500" })), blankLines: 0 };
      }
      throw new AppError("invalid_csv", "The body is not valid UTF-8");
    }
    await expect(uploadRecipients(env, { org, sub: "otto", roles: ["operator"] }, batchId, "csv", source())).rejects.toMatchObject({ code: "invalid_csv" });
    const stored = await env.DB.prepare("SELECT count(*) AS n FROM batch_recipients WHERE batch_id = ?").bind(batchId).first<{ n: number }>();
    expect(stored!.n).toBe(0);
    const b = await callJson(`/v1/batches/${batchId}`, { token: tokens.operator });
    expect(b.body).toMatchObject({ status: "draft", counts: { total: 0 }, upload_in_progress: false });
    // The next upload starts at row 1.
    const res = await uploadCsv(batchId, tokens.operator, "email,country,amount\na@example.com,US,2500\n");
    expect(res.body.upload).toMatchObject({ rows: 1, first_row: 1 });
  });

  it("refuses whole, with 400 amount_too_large, an upload that would take the batch's valid total past 2^53−1", async () => {
    const max = Number.MAX_SAFE_INTEGER;
    const { tokens, batchId } = await seedBatch(uniqueOrg(), { product: { max_amount: max } });
    const totals = () =>
      env.DB.prepare(
        "SELECT valid_total AS total, rows_total AS rows, (SELECT count(*) FROM batch_recipients r WHERE r.batch_id = b.id) AS stored FROM batches b WHERE id = ?",
      )
        .bind(batchId)
        .first();
    expect((await uploadCsv(batchId, tokens.operator, `email,country,amount\nbig@example.com,US,${max - 1_100}\n`)).status).toBe(200);
    const crossing = await uploadCsv(batchId, tokens.operator, "email,country,amount\na@example.com,US,600\nb@example.com,US,600\n");
    expect([crossing.status, crossing.body.code]).toEqual([400, "amount_too_large"]);
    expect(await totals()).toEqual({ total: max - 1_100, rows: 1, stored: 1 });
    const upTo = await uploadCsv(batchId, tokens.operator, "email,country,amount\na@example.com,US,600\nb@example.com,US,500\n");
    expect(upTo.status).toBe(200);
    expect(await totals()).toEqual({ total: max, rows: 3, stored: 3 });
  });

  it("removes the rows of an expired, never-committed upload when the next upload starts", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const past = new Date(Date.now() - 60_000).toISOString();
    await env.DB.batch([
      env.DB.prepare("UPDATE batches SET uploading_id = 'upl_crashed', uploading_until = ? WHERE id = ?").bind(past, batchId),
      env.DB.prepare(
        "INSERT INTO batch_recipients (id, batch_id, batch_ref, org, row_no, upload_id, email, email_key, currency, status, reasons) VALUES ('rcp_orphan', ?1, (SELECT ref FROM batches WHERE id = ?1), 'x', 1, 'upl_crashed', 'a@example.com', 'a@example.com', 'USD', 'valid', '[]')",
      ).bind(batchId),
    ]);
    const res = await uploadCsv(batchId, tokens.operator, "email,country,amount\na@example.com,US,2500\n");
    expect(res.status).toBe(200);
    expect(res.body.upload).toMatchObject({ rows: 1, valid: 1, first_row: 1 });
    const rows = await allRecipients(batchId, tokens.operator);
    expect(rows.map((r) => r.id)).not.toContain("rcp_orphan");
  });
});

describe("batch metadata", () => {
  it("creates a draft batch with the caller as creator", async () => {
    const org = uniqueOrg();
    const tokens = await orgTokens(org);
    const pool = await createPool(org);
    const product = await createProduct(tokens.admin);
    const res = await callJson("/v1/batches", { token: tokens.operator, body: batchBody(pool.id, product, { release_at: "2030-01-01T09:00:00Z" }) });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: "draft", created_by: "otto", currency: "USD", release_at: "2030-01-01T09:00:00.000Z", counts: { total: 0 } });
    expect(res.res.headers.get("location")).toBe(`/v1/batches/${res.body.id}`);
    const audit = await env.DB.prepare("SELECT action FROM audit_events WHERE org = ? AND entity_id = ?").bind(org, res.body.id).all();
    expect(audit.results.map((r) => r.action)).toEqual(["batch.created"]);
  });

  it("refuses control characters and bidirectional overrides in the names approvers read", async () => {
    const org = uniqueOrg();
    const tokens = await orgTokens(org);
    const pool = await createPool(org);
    const product = await createProduct(tokens.admin);
    for (const [field, value] of [
      ["name", "Gift \u0000 cards"],
      ["campaign", "Q4 \u202egpj.exe"],
      ["cost_center", "CC\r\n1"],
      ["business_owner", "Dana\u2066"],
      ["name", "Gift\u200bcards"],
      ["campaign", "Q4\u2028x"],
    ]) {
      const res = await callJson("/v1/batches", { token: tokens.operator, body: batchBody(pool.id, product, { [field!]: value }) });
      expect(res.status, field).toBe(400);
      expect(res.body.errors[0]).toMatchObject({ pointer: `/${field}` });
    }
    const ok = await callJson("/v1/batches", { token: tokens.operator, body: batchBody(pool.id, product, { name: "🎁 Ünïcödé — thanks" }) });
    expect(ok.status).toBe(201);
  });

  it("refuses mass assignment of status, created_by and totals", async () => {
    const org = uniqueOrg();
    const tokens = await orgTokens(org);
    const pool = await createPool(org);
    const product = await createProduct(tokens.admin);
    for (const extra of [{ status: "approved" }, { created_by: "mallory" }, { counts: { valid: 5 } }, { valid_total: 1 }]) {
      const res = await callJson("/v1/batches", { token: tokens.operator, body: batchBody(pool.id, product, extra) });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("validation_failed");
      expect(res.body.errors[0].detail).toContain(Object.keys(extra)[0]);
    }
  });

  it("refuses another org's pool or product, and a currency mismatch", async () => {
    const mine = uniqueOrg();
    const tokens = await orgTokens(mine);
    const foreignPool = await createPool(uniqueOrg());
    const myPool = await createPool(mine);
    const eurPool = await createPool(mine, { currency: "EUR" });
    const product = await createProduct(tokens.admin);
    const foreign = await callJson("/v1/batches", { token: tokens.operator, body: batchBody(foreignPool.id, product) });
    expect(foreign.status).toBe(400);
    expect(foreign.body.errors).toEqual([expect.objectContaining({ pointer: "/pool_id", code: "unknown_pool" })]);
    const mismatch = await callJson("/v1/batches", { token: tokens.operator, body: batchBody(eurPool.id, product) });
    expect(mismatch.body.errors).toEqual([expect.objectContaining({ pointer: "/product_id", code: "currency_mismatch" })]);
    const noProduct = await callJson("/v1/batches", { token: tokens.operator, body: batchBody(myPool.id, "prd_nope") });
    expect(noProduct.body.errors[0]).toMatchObject({ pointer: "/product_id", code: "unknown_product" });
  });

  it("answers 404 for another org's batch on every batch route", async () => {
    const { batchId } = await seedBatch(uniqueOrg());
    const other = await orgTokens(uniqueOrg());
    for (const path of ["", "/preview", "/recipients"]) {
      expect((await callJson(`/v1/batches/${batchId}${path}`, { token: other.operator })).status).toBe(404);
    }
    expect((await uploadCsv(batchId, other.operator, "email,country,amount\na@example.com,US,2500\n")).status).toBe(404);
    expect((await callJson(`/v1/batches/${batchId}/cancel`, { token: other.operator, body: {} })).status).toBe(404);
  });

  it("checks roles: auditors read, only operators and integrators create or upload", async () => {
    const { tokens, batchId, poolId, productId } = await seedBatch(uniqueOrg());
    expect((await callJson(`/v1/batches/${batchId}`, { token: tokens.auditor })).status).toBe(200);
    expect((await callJson("/v1/batches", { token: tokens.finance, body: batchBody(poolId, productId) })).status).toBe(403);
    expect((await uploadCsv(batchId, tokens.support, "email,country,amount\na@example.com,US,2500\n")).status).toBe(403);
    expect((await call(`/v1/batches/${batchId}`)).status).toBe(401);
  });

  it("lists the org's batches by status", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const drafts = await callJson("/v1/batches?status=draft", { token: tokens.auditor });
    expect(drafts.body.data.map((b: any) => b.id)).toEqual([batchId]);
    expect((await callJson("/v1/batches?status=validated", { token: tokens.auditor })).body.data).toEqual([]);
  });
});

describe("payload limits", () => {
  it("answers 413 problem+json when the declared body is over 32 MiB", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const res = await call(`/v1/batches/${batchId}/recipients`, {
      token: tokens.operator,
      rawBody: "email,country,amount\n",
      headers: { "content-type": "text/csv", "content-length": String(33 * 1024 * 1024) },
      method: "POST",
    });
    expect(res.status).toBe(413);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect((await res.json<any>()).code).toBe("payload_too_large");
  });

  it("stops a streamed body without Content-Length at 32 MiB and keeps none of its rows", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    // Long rows (names over the 200-character limit) keep the row count far below the batch row limit.
    const line = new TextEncoder().encode(`someone@example.com,${"n".repeat(4000)},US,2500\n`.repeat(64));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode("email,name,country,amount\n"));
      },
      pull(c) {
        if (sent > 34 * 1024 * 1024) return c.close();
        sent += line.byteLength;
        c.enqueue(line);
      },
    });
    const res = await callJson(`/v1/batches/${batchId}/recipients`, {
      token: tokens.operator,
      rawBody: body,
      headers: { "content-type": "text/csv" },
      method: "POST",
    });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe("payload_too_large");
    const count = await env.DB.prepare("SELECT count(*) AS n FROM batch_recipients WHERE batch_id = ?").bind(batchId).first<{ n: number }>();
    expect(count!.n).toBe(0);
  });

  it("keeps JSON bodies to 1 MiB on the upload route", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const recipients = Array.from({ length: 5000 }, (_, i) => ({ email: `u${i}@example.com`, name: "x".repeat(200), country: "US", amount: 2500 }));
    const res = await callJson(`/v1/batches/${batchId}/recipients`, { token: tokens.operator, body: { recipients } });
    expect(res.status).toBe(413);
  });

  it("answers 415 for a body that is neither CSV nor JSON", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    const res = await callJson(`/v1/batches/${batchId}/recipients`, {
      token: tokens.operator,
      rawBody: "<x/>",
      headers: { "content-type": "application/xml" },
      method: "POST",
    });
    expect(res.status).toBe(415);
    expect(res.body.code).toBe("unsupported_media_type");
  });
});

describe("recipient listing and export", () => {
  it("filters by status and pages with a cursor", async () => {
    const { tokens, batchId } = await messyBatch();
    await uploadCsv(batchId, tokens.operator, MESSY_CSV);
    const invalid = await allRecipients(batchId, tokens.support, "invalid");
    expect(invalid.map((r) => r.external_id)).toEqual(MESSY_EXPECTED.filter(([, s]) => s === "invalid").map(([id]) => id));
    const first = await callJson(`/v1/batches/${batchId}/recipients?limit=5`, { token: tokens.support });
    expect(first.body.data).toHaveLength(5);
    const second = await callJson(`/v1/batches/${batchId}/recipients?limit=5&cursor=${first.body.next_cursor}`, { token: tokens.support });
    expect(second.body.data[0].row).toBe(6);
  });

  it("exports CSV with formula-injection cells neutralised and reasons per row", async () => {
    const { tokens, batchId } = await messyBatch();
    await uploadCsv(batchId, tokens.operator, MESSY_CSV);
    const res = await call(`/v1/batches/${batchId}/recipients`, { token: tokens.auditor, headers: { accept: "text/csv" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/csv");
    const text = await res.text();
    const lines = text.trimEnd().split("\r\n");
    expect(lines[0]).toBe("row,id,status,reasons,external_id,name,email,phone,country,amount,currency,fields");
    expect(text).toContain(`,"'=HYPERLINK(""http://evil.example"",""click"")",`);
    expect(text).toContain(",'@SUM(A1),");
    expect(text).toContain(",'+Tab,");
    expect(text).toContain(",'-Wes,");
    expect(text).toContain(",'-500,");
    expect(text).toMatch(/,"Line\r\nBreak",/);
    expect(text).toContain("invalid,phone_invalid,E6");
    // Every data line starts with its row number: nothing neutralised or lost at the start of a line.
    const starts = text
      .split("\r\n")
      .filter((l) => /^\d+,rcp_/.test(l))
      .map((l) => Number(l.split(",")[0]));
    expect(starts).toEqual(MESSY_EXPECTED.map((_, i) => i + 1));
    const excluded = await (await call(`/v1/batches/${batchId}/recipients?status=excluded`, { token: tokens.auditor, headers: { accept: "text/csv" } })).text();
    expect(excluded.trimEnd().split("\r\n")).toHaveLength(6);
  });
});

describe("preview", () => {
  it("reports counts by reason, totals, distribution, anomalies and pool coverage", async () => {
    const { tokens, batchId } = await messyBatch();
    await uploadCsv(batchId, tokens.operator, MESSY_CSV);
    const res = await callJson(`/v1/batches/${batchId}/preview`, { token: tokens.auditor });
    expect(res.status).toBe(200);
    const p = res.body;
    expect(p.counts).toEqual({ total: 24, valid: 6, invalid: 13, excluded: 5 });
    const reason = (status: string, r: string) => p.reasons.find((x: any) => x.status === status && x.reason === r)?.count;
    expect(reason("excluded", "duplicate_in_batch")).toBe(3);
    expect(reason("invalid", "amount_out_of_range")).toBe(4);
    expect(reason("invalid", "country_not_allowed")).toBe(2);
    expect(reason("excluded", "suppressed")).toBe(1);
    expect(p.totals.find((t: any) => t.currency === "USD")).toMatchObject({ valid_count: 6, valid_amount: 17_500 });
    expect(p.totals.find((t: any) => t.currency === "EUR")).toMatchObject({ valid_count: 0, rows: 1 });
    expect(p.amounts).toMatchObject({ count: 6, min: 2500, max: 5000, median: 2500 });
    expect(p.amounts.buckets.reduce((n: number, b: any) => n + b.count, 0)).toBe(6);
    expect(p.anomalies.map((a: any) => a.code)).toContain("expected_count_mismatch");
    expect(p.pool).toMatchObject({ available: 1_000_000, valid_total: 17_500, covers_valid_total: true, shortfall: 0 });
  });

  it("says whether the inventory's available codes cover the valid rows, amount by amount, as codes arrive", async () => {
    const { tokens, batchId, productId } = await seedBatch(uniqueOrg());
    const csv = ["email,country,amount", "a@example.com,US,2500", "b@example.com,US,2500", "c@example.com,US,1000", "bad,US,5000"].join("\n");
    expect((await uploadCsv(batchId, tokens.operator, csv)).status).toBe(200);
    const preview = async () => (await callJson(`/v1/batches/${batchId}/preview`, { token: tokens.auditor })).body.inventory;
    expect(await preview()).toEqual({
      product_id: productId,
      needed: 3,
      available: 0,
      covers_valid_rows: false,
      shortfall: 3,
      by_amount: [
        { amount: 2500, needed: 2, available: 0, short: 2 },
        { amount: 1000, needed: 1, available: 0, short: 1 },
      ],
    });
    const codes = [2500, 1000, 1000, 5000].map((amount, i) => ({ code: `COVER-${batchId}-${i}`, amount }));
    expect((await callJson(`/v1/products/${productId}/codes`, { token: tokens.admin, body: { codes } })).status).toBe(201);
    expect(await preview()).toMatchObject({
      needed: 3,
      available: 2,
      covers_valid_rows: false,
      shortfall: 1,
      by_amount: [
        { amount: 2500, needed: 2, available: 1, short: 1 },
        { amount: 1000, needed: 1, available: 2, short: 0 },
      ],
    });
    const more = [{ code: `COVER-${batchId}-x`, amount: 2500 }];
    expect((await callJson(`/v1/products/${productId}/codes`, { token: tokens.admin, body: { codes: more } })).status).toBe(201);
    expect(await preview()).toMatchObject({ needed: 3, available: 3, covers_valid_rows: true, shortfall: 0 });

    const card = await seedBatch(uniqueOrg(), { product: { kind: "stored_value" } });
    expect((await uploadCsv(card.batchId, card.tokens.operator, csv)).status).toBe(200);
    expect((await callJson(`/v1/batches/${card.batchId}/preview`, { token: card.tokens.auditor })).body.inventory).toBeNull();
  });

  it("flags amount outliers, a shared domain, a shared phone block and near-duplicate addresses", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg(), { fund: 10_000, batch: { expected_count: 41 } });
    const rows = ["email,phone,country,amount"];
    for (let i = 0; i < 40; i++) rows.push(`p${i}@shell-co.example,+1415555${String(1000 + i)},US,1000`);
    rows.push("ann.lee@example.com,,US,40000", "annlee@example.com,,US,1000");
    const up = await uploadCsv(batchId, tokens.operator, rows.join("\n"));
    expect(up.body.upload.valid).toBe(42);
    const p = (await callJson(`/v1/batches/${batchId}/preview`, { token: tokens.operator })).body;
    const codes = p.anomalies.map((a: any) => a.code);
    expect(codes).toEqual(expect.arrayContaining(["amount_outliers", "shared_email_domain", "shared_phone_prefix", "near_duplicate_emails"]));
    expect(codes).not.toContain("expected_count_mismatch");
    const outliers = p.anomalies.find((a: any) => a.code === "amount_outliers");
    expect(outliers.examples).toEqual([{ row: 41, amount: 40000 }]);
    expect(p.anomalies.find((a: any) => a.code === "near_duplicate_emails").groups[0].rows).toEqual([41, 42]);
    expect(p.pool).toMatchObject({ available: 10_000, valid_total: 81_000, covers_valid_total: false, shortfall: 71_000 });
  });

  it("recomputes after another upload", async () => {
    const { tokens, batchId } = await seedBatch(uniqueOrg());
    await uploadCsv(batchId, tokens.operator, "email,country,amount\na@example.com,US,2500\n");
    expect((await callJson(`/v1/batches/${batchId}/preview`, { token: tokens.operator })).body.counts.valid).toBe(1);
    await uploadCsv(batchId, tokens.operator, "email,country,amount\nb@example.com,US,2500\n");
    const p = (await callJson(`/v1/batches/${batchId}/preview`, { token: tokens.operator })).body;
    expect(p.counts.valid).toBe(2);
    expect(p.content_version).toBe(2);
  });
});
