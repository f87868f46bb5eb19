/**
 * Committed value, delivery by delivery: a page's settled deliveries (not queued or sending, and
 * not a reissued row, whose item the replacement row now carries) against the pool DO's record of
 * their item. The DO is the authority; D1's `committed` flag must agree with it, a delivered reward
 * must be paid for, and a failed or reversed one must not still hold value. D1 hands the page over
 * as one JSON text per pool and the DO answers with the disagreements only, so a page of 10,000
 * costs two round trips, not 10,000 rows through the Worker.
 */
import type { ItemState } from "../../durable-objects/pool-reads";
import { itemsDisagreeing } from "../pools/ledger-reads";
import type { Range } from "./check.deliveries";
import type { Finding } from "./types";

/**
 * The value the delivery's pool item was committed for. A card's reissue carries only the old
 * card's unspent base value, the rest stays spent on the old card, so along a chain of reissues
 * the amounts telescope back to the first delivery's (whose id is the item's).
 */
const ITEM_VALUE = `CASE WHEN reissue_of IS NOT NULL AND card_id IS NOT NULL
  THEN COALESCE((SELECT o.amount FROM deliveries o WHERE o.id = deliveries.item), amount) ELSE amount END`;

/**
 * What the pool should still commit for a delivery: its item's value while committed; for a reversed
 * card, what the reversal left (the redeemed or expired part: a card gives back only its unspent rest).
 */
const EXPECTED = `CASE WHEN committed = 1 AND status <> 'reversed' THEN ${ITEM_VALUE}
  WHEN status = 'reversed' AND card_id IS NOT NULL THEN COALESCE((SELECT ${ITEM_VALUE} - c.base_reversed FROM cards c WHERE c.id = deliveries.card_id AND c.txn_seq > 0), 0)
  ELSE 0 END`;

interface Settled {
  id: string;
  item: string;
  pool_id: string;
  batch_id: string;
  status: string;
  amount: number;
  currency: string;
  committed: number;
  expected: number;
}

export async function itemFindings(env: { DB: D1Database } & Parameters<typeof itemsDisagreeing>[0], r: Range): Promise<Finding[]> {
  const { results: perPool } = await env.DB.prepare(
    `SELECT pool_id, json_group_array(json_array(item, ${EXPECTED}, CASE WHEN ${EXPECTED} > 0 AND status = 'reversed' THEN 'reversed_partly' ELSE status END)) AS expected
     FROM deliveries WHERE org = ?1 AND id > ?2 AND id <= ?3 AND status NOT IN ('queued', 'sending', 'reissued') GROUP BY pool_id`,
  )
    .bind(r.org, r.after, r.last)
    .all<{ pool_id: string; expected: string }>();
  const lists = await Promise.all(perPool.map((p) => itemsDisagreeing(env, p.pool_id, p.expected)));
  const states = new Map<string, ItemState>(lists.flat().map((s) => [s.item_id, s]));
  if (states.size === 0) return [];
  const { results: rows } = await env.DB.prepare(
    `SELECT id, item, pool_id, batch_id, status, amount, currency, committed, ${EXPECTED} AS expected FROM deliveries
     WHERE org = ?1 AND id > ?2 AND id <= ?3 AND status NOT IN ('queued', 'sending', 'reissued') AND item IN (SELECT value FROM json_each(?4))`,
  )
    .bind(r.org, r.after, r.last, JSON.stringify([...states.keys()]))
    .all<Settled>();
  return rows.flatMap((d) => finding(d, states.get(d.item)!));
}

function finding(d: Settled, item: ItemState): Finding[] {
  const poolCommitted = item.state === "committed" ? item.amount! : 0;
  const flagged = d.expected;
  const problems: string[] = [];
  if (poolCommitted > 0 && flagged > 0) {
    problems.push(`the pool committed ${poolCommitted} ${d.currency} for item ${d.item} but the delivery says ${flagged}`);
  } else if (poolCommitted !== flagged) {
    problems.push(
      `the pool ${item.state ? `has item ${d.item} ${item.state}` : `has no item ${d.item}`} but the delivery is ${flagged ? "" : "not "}marked committed`,
    );
  }
  if (d.status === "delivered" && poolCommitted === 0) problems.push("it was delivered without its value being committed in the pool");
  if ((d.status === "failed" || d.status === "reversed") && poolCommitted > flagged) problems.push(`it is ${d.status} but the pool still commits its value`);
  if (problems.length === 0) return [];
  return [
    {
      kind: "ledger_drift",
      entityType: "delivery",
      entityId: d.id,
      batchId: d.batch_id,
      poolId: d.pool_id,
      currency: d.currency,
      expected: poolCommitted,
      actual: flagged,
      detail: `Delivery ${d.id} (${d.status}, ${d.amount} ${d.currency}): ${problems.join("; ")}`,
      data: {
        check: "item_vs_delivery",
        status: d.status,
        item: d.item,
        pool_item_state: item.state,
        pool_item_amount: item.amount,
        delivery_amount: d.amount,
        delivery_committed: d.committed === 1,
      },
      // The amounts too: a delivery whose amount changes again is a new problem, not the one accepted.
      facts: { status: d.status, pool: item.state, committed: d.committed, pool_amount: poolCommitted, amount: flagged },
    },
  ];
}
