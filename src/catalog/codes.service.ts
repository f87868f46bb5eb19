/**
 * Inventory code uploads. Codes arrive in batches (CSV streamed or one JSON body), are checked,
 * fingerprinted (HMAC) and encrypted, and are written `pending`; the upload's last statement flips
 * them to `available` together with its audit event. Any duplicate — within the upload or against
 * codes the org already holds — refuses the whole upload and its pending rows are deleted.
 */
import { appendAudit } from "../audit/audit";
import { AppError, type FieldError } from "../core/errors";
import { newId } from "../core/ids";
import type { Auth, Env } from "../env";
import { codeHmac, encryptCode } from "./code-crypto";
import { requireProduct, type ProductRow } from "./products.service";

export interface RawCode {
  code: unknown;
  amount: unknown;
  /** Where the code came from, for error pointers: `/codes/3` (JSON) or `/rows/4` (CSV data row). */
  at: string;
}

const MAX_ERRORS = 100;
const STALE_PENDING_MS = 10 * 60 * 1000;

interface Checked {
  code: string;
  amount: number;
  at: string;
}

function check(product: ProductRow, raw: RawCode, errors: FieldError[]): Checked | null {
  const code = typeof raw.code === "string" ? raw.code.trim() : "";
  const amount =
    typeof raw.amount === "number" ? raw.amount : typeof raw.amount === "string" && /^\d{1,16}$/.test(raw.amount.trim()) ? Number(raw.amount.trim()) : NaN;
  let ok = true;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: a code with control characters is refused
  if (code.length === 0 || code.length > 256 || /[\u0000-\u001f\u007f]/.test(code)) {
    errors.push({ pointer: `${raw.at}/code`, code: "code_invalid", detail: "A code is 1 to 256 printable characters" });
    ok = false;
  }
  if (Number.isNaN(amount) || (typeof raw.amount === "number" && !Number.isInteger(amount))) {
    errors.push({ pointer: `${raw.at}/amount`, code: "amount_invalid", detail: "A whole number of minor units" });
    ok = false;
  } else if (!Number.isSafeInteger(amount) || amount < product.minAmount || amount > product.maxAmount) {
    errors.push({
      pointer: `${raw.at}/amount`,
      code: "amount_out_of_range",
      detail: `An integer in minor units from ${product.minAmount} to ${product.maxAmount}`,
    });
    ok = false;
  }
  return ok ? { code, amount, at: raw.at } : null;
}

/** Fingerprints a batch and reports codes seen earlier in it or already held by the org. */
async function findDuplicates(env: Env, org: string, batch: Checked[], errors: FieldError[]): Promise<string[]> {
  const hmacs = await Promise.all(batch.map((c) => codeHmac(env, org, c.code)));
  const { results } = await env.DB.prepare("SELECT code_hmac FROM inventory_codes WHERE org = ?1 AND code_hmac IN (SELECT value FROM json_each(?2))")
    .bind(org, JSON.stringify(hmacs))
    .all<{ code_hmac: string }>();
  const seen = new Set(results.map((r) => r.code_hmac));
  hmacs.forEach((h, i) => {
    if (seen.has(h))
      errors.push({ pointer: `${batch[i]!.at}/code`, code: "duplicate", detail: "This code is already in the inventory or earlier in the upload" });
    seen.add(h);
  });
  return hmacs;
}

async function insertPending(env: Env, org: string, product: ProductRow, uploadId: string, batch: Checked[], hmacs: string[]) {
  const now = new Date().toISOString();
  const rows = await Promise.all(
    batch.map(async (c, i) => {
      const id = newId("cod");
      const sealed = await encryptCode(env, org, id, c.code);
      return [id, c.amount, sealed.ciphertext, sealed.iv, sealed.keyVersion, hmacs[i]];
    }),
  );
  await env.DB.prepare(
    `INSERT INTO inventory_codes (id, org, product_id, amount, ciphertext, iv, key_version, code_hmac, status, upload_id, created_at)
     SELECT value ->> 0, ?1, ?2, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, 'pending', ?3, ?4 FROM json_each(?5)`,
  )
    .bind(org, product.id, uploadId, now, JSON.stringify(rows))
    .run();
}

export async function uploadCodes(env: Env, auth: Auth, productId: string, source: AsyncIterable<RawCode[]>, requestId?: string) {
  const product = await requireProduct(env.DB, auth.org, productId);
  if (product.kind !== "inventory") throw new AppError("unprocessable", "Only inventory products hold codes; stored-value cards are issued by Rewardrail");
  const uploadId = newId("upl");
  const staleBefore = new Date(Date.now() - STALE_PENDING_MS).toISOString();
  await env.DB.prepare("DELETE FROM inventory_codes WHERE org = ? AND product_id = ? AND status = 'pending' AND created_at < ?")
    .bind(auth.org, product.id, staleBefore)
    .run();
  const errors: FieldError[] = [];
  const byAmount = new Map<number, number>();
  try {
    for await (const raws of source) {
      const batch = raws.map((r) => check(product, r, errors)).filter((c): c is Checked => c !== null);
      const hmacs = await findDuplicates(env, auth.org, batch, errors);
      if (errors.length >= MAX_ERRORS) break;
      if (errors.length === 0 && batch.length) await insertPending(env, auth.org, product, uploadId, batch, hmacs);
      for (const c of batch) byAmount.set(c.amount, (byAmount.get(c.amount) ?? 0) + 1);
    }
    if (errors.length) throw refusal(errors);
  } catch (err) {
    await env.DB.prepare("DELETE FROM inventory_codes WHERE upload_id = ? AND status = 'pending'").bind(uploadId).run();
    if (String((err as Error)?.message).includes("UNIQUE constraint failed: inventory_codes")) {
      throw new AppError("duplicate", "Another upload added some of these codes meanwhile; nothing was added");
    }
    throw err;
  }
  const counts = [...byAmount].sort(([a], [b]) => a - b).map(([amount, count]) => ({ amount, count }));
  const added = counts.reduce((n, c) => n + c.count, 0);
  await appendAudit(
    env.DB,
    auth.org,
    [
      {
        actor: auth.sub,
        action: "inventory.codes_added",
        entityType: "product",
        entityId: product.id,
        after: { upload_id: uploadId, added, by_amount: counts },
        requestId,
      },
    ],
    [env.DB.prepare("UPDATE inventory_codes SET status = 'available' WHERE upload_id = ? AND status = 'pending'").bind(uploadId)],
  );
  return { product_id: product.id, upload_id: uploadId, added, by_amount: counts };
}

function refusal(errors: FieldError[]): AppError {
  const dup = errors.some((e) => e.code === "duplicate");
  const shown = errors.slice(0, MAX_ERRORS);
  return dup
    ? new AppError("duplicate", "Some codes are duplicates; nothing was added", { errors: shown })
    : new AppError("validation_failed", "Some codes are not valid; nothing was added", { errors: shown });
}

export async function inventoryCounts(d1: D1Database, org: string, productId: string) {
  const product = await requireProduct(d1, org, productId);
  const { results } = await d1
    .prepare(
      "SELECT amount, status, count(*) AS n FROM inventory_codes WHERE product_id = ? AND status IN ('available', 'assigned') GROUP BY amount, status ORDER BY amount",
    )
    .bind(product.id)
    .all<{ amount: number; status: "available" | "assigned"; n: number }>();
  const byAmount = new Map<number, { amount: number; available: number; assigned: number }>();
  for (const r of results) {
    const entry = byAmount.get(r.amount) ?? { amount: r.amount, available: 0, assigned: 0 };
    entry[r.status] = r.n;
    byAmount.set(r.amount, entry);
  }
  const list = [...byAmount.values()];
  const available = list.reduce((n, e) => n + e.available, 0);
  const assigned = list.reduce((n, e) => n + e.assigned, 0);
  return { product_id: product.id, kind: product.kind, available, assigned, total: available + assigned, by_amount: list };
}
