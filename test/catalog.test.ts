import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { codeHmac, decryptCode, encryptCode } from "../src/catalog/code-crypto";
import { callJson, uniqueOrg } from "./helpers/api";
import { createProduct, orgTokens } from "./helpers/batch-factories";

function uploadCodesCsv(productId: string, t: string, csv: string) {
  return callJson(`/v1/products/${productId}/codes`, { token: t, rawBody: csv, headers: { "content-type": "text/csv" }, method: "POST" });
}

describe("products", () => {
  it("creates, lists and reads products of the caller's org only", async () => {
    const org = uniqueOrg();
    const tokens = await orgTokens(org);
    const id = await createProduct(tokens.admin, { countries: ["US", "CA", "US"] });
    const got = await callJson(`/v1/products/${id}`, { token: tokens.auditor });
    expect(got.body).toMatchObject({ id, kind: "inventory", currency: "USD", min_amount: 500, max_amount: 50_000, countries: ["CA", "US"], created_by: "ada" });
    expect((await callJson("/v1/products", { token: tokens.operator })).body.data.map((p: any) => p.id)).toEqual([id]);
    const other = await orgTokens(uniqueOrg());
    expect((await callJson(`/v1/products/${id}`, { token: other.admin })).status).toBe(404);
    expect((await callJson(`/v1/products/${id}/inventory`, { token: other.admin })).status).toBe(404);
  });

  it("refuses bad products: unknown country, bad currency, min above max, unknown fields, non-admins", async () => {
    const tokens = await orgTokens(uniqueOrg());
    const base = { name: "Card", kind: "inventory", currency: "USD", min_amount: 500, max_amount: 1000, countries: ["US"] };
    const bad = [{ countries: ["XX"] }, { currency: "ABC" }, { min_amount: 2000 }, { min_amount: 10.5 }, { status: "active" }];
    for (const patch of bad) {
      const res = await callJson("/v1/products", { token: tokens.admin, body: { ...base, ...patch } });
      expect(res.status, JSON.stringify(patch)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    expect((await callJson("/v1/products", { token: tokens.operator, body: base })).status).toBe(403);
  });
});

describe("inventory codes", () => {
  it("uploads CSV and JSON codes, counts them by amount, and never returns or stores a code in clear", async () => {
    const org = uniqueOrg();
    const tokens = await orgTokens(org);
    const id = await createProduct(tokens.admin);
    const csv = "\uFEFFcode,amount\r\nGIFT-AAAA-0001,2500\r\nGIFT-AAAA-0002,2500\r\n\r\nGIFT-BBBB-0003,5000\r\n";
    const a = await uploadCodesCsv(id, tokens.admin, csv);
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({
      added: 3,
      by_amount: [
        { amount: 2500, count: 2 },
        { amount: 5000, count: 1 },
      ],
    });
    const b = await callJson(`/v1/products/${id}/codes`, { token: tokens.finance, body: { codes: [{ code: "GIFT-CCCC-0004", amount: 5000 }] } });
    expect(b.status).toBe(201);
    const inv = await callJson(`/v1/products/${id}/inventory`, { token: tokens.operator });
    expect(inv.body).toMatchObject({
      available: 4,
      assigned: 0,
      total: 4,
      by_amount: [
        { amount: 2500, available: 2 },
        { amount: 5000, available: 2 },
      ],
    });
    const dump = JSON.stringify([a.body, b.body, inv.body]);
    expect(dump).not.toContain("GIFT-");
    const rows = await env.DB.prepare("SELECT * FROM inventory_codes WHERE product_id = ?").bind(id).all();
    expect(JSON.stringify(rows.results)).not.toContain("GIFT-");
    const audit = await env.DB.prepare("SELECT after FROM audit_events WHERE org = ?").bind(org).all();
    expect(JSON.stringify(audit.results)).not.toContain("GIFT-");
  });

  it("refuses the whole upload when a code repeats, within the upload or against the inventory", async () => {
    const tokens = await orgTokens(uniqueOrg());
    const id = await createProduct(tokens.admin);
    const within = await uploadCodesCsv(id, tokens.admin, "code,amount\nDUP-1,2500\nOK-1,2500\nDUP-1,2500\n");
    expect(within.status).toBe(409);
    expect(within.body.code).toBe("duplicate");
    expect(within.body.errors).toEqual([expect.objectContaining({ pointer: "/rows/3/code", code: "duplicate" })]);
    expect((await callJson(`/v1/products/${id}/inventory`, { token: tokens.admin })).body.total).toBe(0);
    expect((await uploadCodesCsv(id, tokens.admin, "code,amount\nDUP-1,2500\n")).status).toBe(201);
    const again = await callJson(`/v1/products/${id}/codes`, {
      token: tokens.admin,
      body: {
        codes: [
          { code: "NEW-1", amount: 2500 },
          { code: " DUP-1 ", amount: 2500 },
        ],
      },
    });
    expect(again.status).toBe(409);
    expect(again.body.errors[0].pointer).toBe("/codes/1/code");
    expect((await callJson(`/v1/products/${id}/inventory`, { token: tokens.admin })).body.total).toBe(1);
  });

  it("refuses codes with amounts outside the product range, and codes for stored-value products", async () => {
    const tokens = await orgTokens(uniqueOrg());
    const id = await createProduct(tokens.admin);
    const res = await uploadCodesCsv(id, tokens.admin, "code,amount\nA-1,100\nA-2,25.5\nA-3,2500\nA-4,abc\nA-5,99999999\n");
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: any) => [e.pointer, e.code])).toEqual([
      ["/rows/1/amount", "amount_out_of_range"],
      ["/rows/2/amount", "amount_invalid"],
      ["/rows/4/amount", "amount_invalid"],
      ["/rows/5/amount", "amount_out_of_range"],
    ]);
    const sv = await createProduct(tokens.admin, { kind: "stored_value" });
    expect((await uploadCodesCsv(sv, tokens.admin, "code,amount\nA-1,2500\n")).status).toBe(422);
    expect((await uploadCodesCsv(id, tokens.operator, "code,amount\nA-1,2500\n")).status).toBe(403);
  });
});

describe("code encryption", () => {
  it("gives the same code two different ciphertexts that both decrypt", async () => {
    const a = await encryptCode(env, "org-a", "cod_1", "SAME-CODE");
    const b = await encryptCode(env, "org-a", "cod_2", "SAME-CODE");
    expect(a.ciphertext).not.toBe(b.ciphertext);
    expect(a.iv).not.toBe(b.iv);
    expect(await decryptCode(env, "org-a", "cod_1", a)).toBe("SAME-CODE");
    expect(await decryptCode(env, "org-a", "cod_2", b)).toBe("SAME-CODE");
  });

  it("fails to decrypt a ciphertext moved to another code's row or org", async () => {
    const a = await encryptCode(env, "org-a", "cod_1", "CODE-ONE");
    await expect(decryptCode(env, "org-a", "cod_2", a)).rejects.toThrow();
    await expect(decryptCode(env, "org-b", "cod_1", a)).rejects.toThrow();
  });

  it("binds stored codes to their rows: swapping ciphertexts between two rows breaks both", async () => {
    const org = uniqueOrg();
    const tokens = await orgTokens(org);
    const id = await createProduct(tokens.admin);
    await uploadCodesCsv(id, tokens.admin, "code,amount\nROW-ONE,2500\nROW-TWO,2500\n");
    const { results } = await env.DB.prepare("SELECT id, ciphertext, iv, key_version FROM inventory_codes WHERE product_id = ? ORDER BY id")
      .bind(id)
      .all<any>();
    const [one, two] = results as any[];
    const sealed = (r: any) => ({ ciphertext: r.ciphertext, iv: r.iv, keyVersion: r.key_version });
    const plain = [await decryptCode(env, org, one.id, sealed(one)), await decryptCode(env, org, two.id, sealed(two))].sort();
    expect(plain).toEqual(["ROW-ONE", "ROW-TWO"]);
    await expect(decryptCode(env, org, one.id, sealed(two))).rejects.toThrow();
    await expect(decryptCode(env, org, two.id, sealed(one))).rejects.toThrow();
  });

  it("fingerprints codes per org with a keyed HMAC", async () => {
    expect(await codeHmac(env, "org-a", "X")).toBe(await codeHmac(env, "org-a", "X"));
    expect(await codeHmac(env, "org-a", "X")).not.toBe(await codeHmac(env, "org-b", "X"));
    expect(await codeHmac(env, "org-a", "X")).toMatch(/^[0-9a-f]{64}$/);
  });
});
