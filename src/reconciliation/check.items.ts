/**
 * Committed value, delivery by delivery: a page's settled deliveries (not queued or sending, and
 * not a reissued row, whose item the replacement row now carries) against the pool DO's record of
 * their item. The DO is the authority; D1's `committed` flag must agree with it, a delivered reward
 * must be paid for, and a failed one must not still hold value.
 */
import type { ItemState } from "../../durable-objects/pool-reads";
import { poolStub } from "../pools/pools.service";
import type { Range } from "./check.deliveries";
import type { Finding } from "./types";

const ITEMS_PER_CALL = 2000;

interface Settled { id: string; item: string; pool_id: string; batch_id: string; status: string; amount: number; currency: string; committed: number }

export async function itemFindings(env: { DB: D1Database } & Parameters<typeof poolStub>[0], r: Range): Promise<Finding[]> {
  const { results: rows } = await env.DB.prepare(
    `SELECT id, item, pool_id, batch_id, status, amount, currency, committed FROM deliveries
     WHERE org = ?1 AND id > ?2 AND id <= ?3 AND status NOT IN ('queued', 'sending', 'reissued')`,
  ).bind(r.org, r.after, r.last).all<Settled>();
  const calls: [string, string[]][] = [];
  const byPool = new Map<string, string[]>();
  for (const d of rows) byPool.set(d.pool_id, [...(byPool.get(d.pool_id) ?? []), d.item]);
  for (const [poolId, items] of byPool) for (let i = 0; i < items.length; i += ITEMS_PER_CALL) calls.push([poolId, items.slice(i, i + ITEMS_PER_CALL)]);
  const states = new Map<string, ItemState>();
  for (const [poolId, items] of calls) for (const s of await poolStub(env, poolId).itemStates(items)) states.set(s.item_id, s);

  const out: Finding[] = [];
  for (const d of rows) {
    const item = states.get(d.item);
    const poolCommitted = item?.state === "committed" ? item.amount : 0;
    const flagged = d.committed === 1 && d.status !== "reversed" ? d.amount : 0;
    const problems: string[] = [];
    if (poolCommitted !== flagged) {
      problems.push(`the pool ${item ? `has item ${d.item} ${item.state}` : `has no item ${d.item}`} but the delivery is ${flagged ? "" : "not "}marked committed`);
    }
    if (d.status === "delivered" && poolCommitted === 0) problems.push("it was delivered without its value being committed in the pool");
    if ((d.status === "failed" || d.status === "reversed") && poolCommitted > 0) problems.push(`it is ${d.status} but the pool still commits its value`);
    if (problems.length === 0) continue;
    out.push({
      kind: "ledger_drift", entityType: "delivery", entityId: d.id, batchId: d.batch_id, poolId: d.pool_id, currency: d.currency,
      expected: poolCommitted, actual: flagged,
      detail: `Delivery ${d.id} (${d.status}, ${d.amount} ${d.currency}): ${problems.join("; ")}`,
      data: { check: "item_vs_delivery", status: d.status, item: d.item, pool_item_state: item?.state ?? null, delivery_committed: d.committed === 1 },
      facts: { status: d.status, pool: item?.state ?? null, committed: d.committed },
    });
  }
  return out;
}
