/**
 * Duplicate payouts among a page of deliveries: one recipient row with two live deliveries (a
 * reissue replaces its original, which then no longer counts), and one person (email or phone key)
 * paid by two batches released within the org's prior-payout window.
 */
import type { Range } from "./check.deliveries";
import type { Finding } from "./types";

/** Deliveries that pay or are about to: a second one of these for the same recipient is a second payout. */
const PAYING = "('queued', 'sending', 'delivered')";

interface Paying {
  id: string;
  recipient_id: string;
  batch_id: string;
  pool_id: string;
  status: string;
  amount: number;
  currency: string;
}

export async function duplicatesInPage(db: D1Database, r: Range): Promise<Finding[]> {
  const { results: recipients } = await db
    .prepare(
      `SELECT DISTINCT d.recipient_id FROM deliveries d
     WHERE d.org = ?1 AND d.id > ?2 AND d.id <= ?3 AND d.status IN ${PAYING}
       AND EXISTS (SELECT 1 FROM deliveries o WHERE o.recipient_id = d.recipient_id AND o.id <> d.id AND o.status IN ${PAYING})`,
    )
    .bind(r.org, r.after, r.last)
    .all<{ recipient_id: string }>();
  if (recipients.length === 0) return [];
  const { results } = await db
    .prepare(
      `SELECT id, recipient_id, batch_id, pool_id, status, amount, currency FROM deliveries
     WHERE recipient_id IN (SELECT value FROM json_each(?1)) AND org = ?2 AND status IN ${PAYING} ORDER BY id`,
    )
    .bind(JSON.stringify(recipients.map((x) => x.recipient_id)), r.org)
    .all<Paying>();
  const byRecipient = new Map<string, Paying[]>();
  for (const d of results) byRecipient.set(d.recipient_id, [...(byRecipient.get(d.recipient_id) ?? []), d]);
  return [...byRecipient]
    .filter(([, list]) => list.length > 1)
    .map(([recipientId, list]): Finding => {
      const first = list[0]!;
      const total = list.reduce((s, d) => s + d.amount, 0);
      return {
        kind: "duplicate_payout",
        entityType: "recipient",
        entityId: recipientId,
        batchId: first.batch_id,
        poolId: first.pool_id,
        currency: first.currency,
        expected: first.amount,
        actual: total,
        detail: `Recipient ${recipientId} of batch ${first.batch_id} has ${list.length} live deliveries (${list.map((d) => `${d.id} ${d.status}`).join(", ")}) where one is due`,
        data: { deliveries: list.map((d) => ({ id: d.id, batch_id: d.batch_id, status: d.status, amount: d.amount })) },
        facts: { deliveries: list.map((d) => d.id) },
      };
    });
}

interface Cross {
  id: string;
  batch_id: string;
  pool_id: string;
  amount: number;
  currency: string;
  other_id: string;
  other_batch: string;
  other_amount: number;
  via: string;
}

/**
 * A delivery of the page whose person another batch, released earlier within `windowDays`, also
 * pays. CROSS JOIN fixes the join order (SQLite keeps it as written): from the page's deliveries
 * through the identity-key index to the other deliveries, never from all of the org's batches.
 */
export async function duplicatesAcrossBatches(db: D1Database, r: Range, windowDays: number): Promise<Finding[]> {
  const query = (key: "email_key" | "phone_key") =>
    db
      .prepare(
        `SELECT d.id, d.batch_id, d.pool_id, d.amount, d.currency, o.id AS other_id, o.batch_id AS other_batch, o.amount AS other_amount, '${key}' AS via
       FROM deliveries d
       CROSS JOIN batch_recipients rr ON rr.id = d.recipient_id
       CROSS JOIN batches b ON b.id = d.batch_id
       CROSS JOIN batch_recipients r2 ON r2.${key} = rr.${key} AND r2.${key} IS NOT NULL AND r2.batch_ref <> rr.batch_ref
       CROSS JOIN deliveries o ON o.recipient_id = r2.id AND o.status IN ${PAYING}
       CROSS JOIN batches b2 ON b2.id = o.batch_id AND b2.org = ?1
       WHERE d.org = ?1 AND d.id > ?2 AND d.id <= ?3 AND d.status IN ${PAYING} AND rr.${key} IS NOT NULL
         AND b.released_at IS NOT NULL AND b2.released_at IS NOT NULL
         AND b2.released_at >= strftime('%Y-%m-%dT%H:%M:%fZ', b.released_at, '-' || ?4 || ' days')
         AND (b2.released_at < b.released_at OR (b2.released_at = b.released_at AND b2.id < b.id))`,
      )
      .bind(r.org, r.after, r.last, windowDays);
  const [byEmail, byPhone] = await db.batch<Cross>([query("email_key"), query("phone_key")]);
  const seen = new Map<string, Cross>();
  for (const c of [...byEmail!.results, ...byPhone!.results]) if (!seen.has(c.id)) seen.set(c.id, c);
  return [...seen.values()].map((c) => ({
    kind: "duplicate_payout",
    entityType: "delivery",
    entityId: c.id,
    batchId: c.batch_id,
    poolId: c.pool_id,
    currency: c.currency,
    expected: c.amount,
    actual: c.amount + c.other_amount,
    detail: `Delivery ${c.id} pays a person (same ${c.via.replace("_key", "")}) that batch ${c.other_batch} already paid (${c.other_id}) within the ${windowDays}-day prior-payout window`,
    data: { other_delivery_id: c.other_id, other_batch_id: c.other_batch, matched_on: c.via.replace("_key", ""), window_days: windowDays },
    facts: { other: c.other_id },
  }));
}
