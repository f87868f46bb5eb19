/**
 * Obtaining the reward of a delivery, idempotently: an inventory code claimed for it (a conditional
 * update, and a unique index on deliveries.code_id, so one code never goes to two deliveries) or a
 * stored-value card issued with a high-entropy code. A delivery that already has one keeps it.
 */
import { codeHmac, decryptCode, encryptCode, maskCode } from "../catalog/code-crypto";
import type { Env } from "../env";

export interface RewardNeed {
  id: string;
  org: string;
  amount: number;
  codeId: string | null;
  cardId: string | null;
}
export interface RevealedCode {
  code: string;
  masked: string;
  expiresAt: string | null;
}
export interface Reward {
  deliveryId: string;
  codeId?: string;
  cardId?: string;
  masked: string;
  fresh?: RevealedCode;
}
export interface ProductInfo {
  id: string;
  kind: "inventory" | "stored_value";
  currency: string;
  expiresAfterDays: number | null;
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** 25 Crockford base32 characters, 5 random bits each (125 bits), in groups of five. */
export function newCardCode(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(25));
  let out = "";
  for (const b of bytes) out += CROCKFORD[b & 31];
  return out.match(/.{5}/g)!.join("-");
}

/** Claims one available code of the right amount per delivery; returns the ones that got a code. */
export async function assignCodes(env: Env, org: string, productId: string, needs: RewardNeed[]): Promise<Map<string, Reward>> {
  const got = new Map<string, Reward>();
  const byAmount = new Map<number, RewardNeed[]>();
  for (const n of needs) byAmount.set(n.amount, [...(byAmount.get(n.amount) ?? []), n]);
  const now = new Date().toISOString();
  for (const [amount, group] of byAmount) {
    let waiting = group;
    for (let round = 0; round < 3 && waiting.length > 0; round++) {
      const { results: free } = await env.DB.prepare(
        "SELECT id FROM inventory_codes WHERE product_id = ? AND org = ? AND status = 'available' AND amount = ? LIMIT ?",
      )
        .bind(productId, org, amount, waiting.length)
        .all<{ id: string }>();
      if (free.length === 0) break;
      const pairs = free.map((c, i) => ({ code: c.id, delivery: waiting[i]!.id }));
      const claims = pairs.map((p) =>
        env.DB.prepare(
          "UPDATE inventory_codes SET status = 'assigned', delivery_id = ?, assigned_at = ? WHERE id = ? AND status = 'available' RETURNING id, delivery_id",
        ).bind(p.delivery, now, p.code),
      );
      const results = await env.DB.batch<{ id: string; delivery_id: string }>(claims);
      for (const r of results) for (const row of r.results) got.set(row.delivery_id, { deliveryId: row.delivery_id, codeId: row.id, masked: "" });
      waiting = waiting.filter((n) => !got.has(n.id));
    }
  }
  return got;
}

/** A delivery's card id is derived from its id, so every attempt at issuing it targets one row. */
export const cardIdFor = (deliveryId: string) => `card_${deliveryId.slice(4)}`;
/**
 * The same in SQL, for joins from a delivery to its card by the card's primary key (cards keep no
 * index on delivery_id: it cost a row written per issued card). `column` names the delivery id.
 */
export const cardIdSql = (column: string) => `('card_' || substr(${column}, 5))`;

/**
 * Issues a card per delivery (card id derived from the delivery id: a retry finds the card it made).
 * Returns the cards this call inserted, with their plain code in memory (`fresh`) so the message can
 * be built without reading and decrypting them again; a card kept from an earlier attempt is not in
 * the result (the caller looks it up). No rows come back in the usual case: D1's binding costs
 * tens of µs per returned row locally.
 */
export async function issueCards(env: Env, product: ProductInfo, needs: RewardNeed[]): Promise<Map<string, Reward>> {
  const now = new Date();
  const expiresAt = product.expiresAfterDays ? new Date(now.getTime() + product.expiresAfterDays * 86_400_000).toISOString() : null;
  const plain = new Map<string, string>();
  const rows = await Promise.all(
    needs.map(async (n) => {
      const id = cardIdFor(n.id);
      const code = newCardCode();
      plain.set(id, code);
      const sealed = await encryptCode(env, n.org, id, code);
      return {
        id,
        org: n.org,
        product_id: product.id,
        delivery_id: n.id,
        currency: product.currency,
        amount: n.amount,
        ciphertext: sealed.ciphertext,
        iv: sealed.iv,
        key_version: sealed.keyVersion,
        code_hmac: await codeHmac(env, n.org, code),
        expires_at: expiresAt,
        created_at: now.toISOString(),
      };
    }),
  );
  if (rows.length === 0) return new Map();
  const insert = await env.DB.prepare(
    `INSERT OR IGNORE INTO cards (id, org, product_id, delivery_id, currency, initial_amount, balance, available, ciphertext, iv, key_version, code_hmac, status, expires_at, created_at)
     SELECT value ->> 'id', value ->> 'org', value ->> 'product_id', value ->> 'delivery_id', value ->> 'currency', value ->> 'amount', value ->> 'amount', value ->> 'amount',
            value ->> 'ciphertext', value ->> 'iv', value ->> 'key_version', value ->> 'code_hmac', 'active', value ->> 'expires_at', value ->> 'created_at'
     FROM json_each(?)`,
  )
    .bind(JSON.stringify(rows))
    .run();
  // Usually every card is new. Otherwise INSERT OR IGNORE kept some from an earlier attempt: the
  // ones whose stored code_hmac is not ours were not inserted now (one query, only in that case).
  let inserted = rows;
  if (insert.meta.changes !== rows.length) {
    const { results } = await env.DB.prepare(
      "SELECT c.id FROM cards c JOIN json_each(?) j ON c.id = j.value ->> 'id' AND c.code_hmac = j.value ->> 'code_hmac'",
    )
      .bind(JSON.stringify(rows.map((r) => ({ id: r.id, code_hmac: r.code_hmac }))))
      .all<{ id: string }>();
    const ours = new Set(results.map((r) => r.id));
    inserted = rows.filter((r) => ours.has(r.id));
  }
  return new Map(
    inserted.map((r) => {
      const code = plain.get(r.id)!;
      const masked = maskCode(code);
      return [r.delivery_id, { deliveryId: r.delivery_id, cardId: r.id, masked, fresh: { code, masked, expiresAt } }];
    }),
  );
}

/** The plain codes of deliveries, for the message only (never logged, never stored in clear). */
export async function revealCodes(
  env: Env,
  org: string,
  refs: { deliveryId: string; codeId: string | null; cardId: string | null }[],
): Promise<Map<string, RevealedCode>> {
  const out = new Map<string, RevealedCode>();
  if (refs.length === 0) return out;
  const codeIds = refs.flatMap((r) => (r.codeId ? [r.codeId] : []));
  const cardIds = refs.flatMap((r) => (r.cardId ? [r.cardId] : []));
  type Sealed = { id: string; ciphertext: string; iv: string; key_version: number; expires_at?: string | null };
  const [codes, cardRows] = await env.DB.batch<Sealed>([
    // `+org`: look rows up by primary key, not by scanning the org's index.
    env.DB.prepare("SELECT id, ciphertext, iv, key_version FROM inventory_codes WHERE id IN (SELECT value FROM json_each(?2)) AND +org = ?1").bind(
      org,
      JSON.stringify(codeIds),
    ),
    env.DB.prepare("SELECT id, ciphertext, iv, key_version, expires_at FROM cards WHERE id IN (SELECT value FROM json_each(?2)) AND +org = ?1").bind(
      org,
      JSON.stringify(cardIds),
    ),
  ]);
  const sealed = new Map([...codes!.results, ...cardRows!.results].map((r) => [r.id, r]));
  await Promise.all(
    refs.map(async (r) => {
      const s = sealed.get((r.codeId ?? r.cardId)!);
      if (!s) return;
      const code = await decryptCode(env, org, s.id, { ciphertext: s.ciphertext, iv: s.iv, keyVersion: s.key_version });
      out.set(r.deliveryId, { code, masked: maskCode(code), expiresAt: s.expires_at ?? null });
    }),
  );
  return out;
}
