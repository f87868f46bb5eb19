/**
 * Stored-value cards, with the deliveries page that issued them: every card's mirrored balance
 * must add up, issued + credited = redeemed + pending + available + expired + reversed, and no
 * part may be negative. A card whose ledger (its Durable Object) wrote a balance that does not add
 * up, or whose mirror was written by something else, becomes a `ledger_drift` exception. A card D1
 * voided before its ledger began (never touched) has no balance columns to check. Every card that has
 * a ledger is also compared with it and with its D1 audit trail (`cardMirrorFindings`).
 * What the pools commit for cards (issued value less what reversals gave back, bonus credits) is
 * compared with each pool's committed total in the ledger phase (check.ledger.ts).
 */
import { cardStub } from "../cards/cards.store";
import type { Env } from "../env";
import type { Range } from "./check.deliveries";
import type { Finding } from "./types";

interface Row {
  id: string;
  delivery_id: string;
  batch_id: string;
  pool_id: string;
  currency: string;
  initial_amount: number;
  credited: number;
  available: number;
  pending: number;
  redeemed: number;
  expired: number;
  reversed: number;
  status: string;
}

export async function cardLedgerFindings(db: D1Database, r: Range): Promise<Finding[]> {
  const { results } = await db
    .prepare(
      `SELECT c.id, d.id AS delivery_id, d.batch_id, d.pool_id, c.currency, c.initial_amount, c.credited, c.available, c.pending, c.redeemed,
            c.expired, c.reversed, c.status
     FROM deliveries d JOIN cards c ON c.delivery_id = d.id
     WHERE d.org = ?1 AND d.id > ?2 AND d.id <= ?3 AND d.card_id IS NOT NULL AND NOT (c.status = 'void' AND c.txn_seq = 0) AND (
       c.initial_amount + c.credited <> c.available + c.pending + c.redeemed + c.expired + c.reversed
       OR MIN(c.available, c.pending, c.redeemed, c.expired, c.reversed, c.credited) < 0)`,
    )
    .bind(r.org, r.after, r.last)
    .all<Row>();
  return results.map((c): Finding => {
    const total = c.available + c.pending + c.redeemed + c.expired + c.reversed;
    return {
      kind: "ledger_drift",
      entityType: "card",
      entityId: c.id,
      batchId: c.batch_id,
      poolId: c.pool_id,
      currency: c.currency,
      expected: c.initial_amount + c.credited,
      actual: total,
      detail:
        `Card ${c.id} was issued ${c.initial_amount} and credited ${c.credited} ${c.currency}, but its balance adds up to ${total} ` +
        `(available ${c.available}, pending ${c.pending}, redeemed ${c.redeemed}, expired ${c.expired}, reversed ${c.reversed})`,
      data: { check: "card_balance", delivery_id: c.delivery_id, status: c.status },
      facts: {
        issued: c.initial_amount,
        credited: c.credited,
        available: c.available,
        pending: c.pending,
        redeemed: c.redeemed,
        expired: c.expired,
        reversed: c.reversed,
      },
    };
  });
}

/** Card objects asked at once (a page asks every card of its deliveries that has a ledger). */
const LEDGER_CALLS_AT_ONCE = 50;

interface Touched {
  id: string;
  delivery_id: string;
  batch_id: string;
  pool_id: string;
  currency: string;
  status: string;
  txn_seq: number;
  available: number;
  pending: number;
  redeemed: number;
  expired: number;
  reversed: number;
  credited: number;
  audited_seq: number | null;
  audited_hash: string | null;
}

type Head = Awaited<ReturnType<ReturnType<typeof cardStub>["ledgerHead"]>>;

/**
 * The mirror against its authority and its own trail, for every card of the page that has a ledger
 * (untouched cards have none and cost nothing): the D1 trail
 * (`card_audit`) must reach the card row's `txn_seq`, and the card's Durable Object must be at that
 * sequence with the same balance, the same chain head as the trail's, and a chain that recomputes.
 * A mirror edited by hand so that it still adds up shows here, as does an object whose history was
 * rewritten. One RPC per such card, LEDGER_CALLS_AT_ONCE at a time: for an org with millions of
 * active cards this is the run's largest cost, and restricting it to cards changed since the last
 * run (`cards.updated_at`) is the lever, at the price of missing a hand edit that keeps updated_at.
 */
export async function cardMirrorFindings(env: Env, r: Range): Promise<Finding[]> {
  const { results } = await env.DB.prepare(
    `SELECT c.id, d.id AS delivery_id, d.batch_id, d.pool_id, c.currency, c.status, c.txn_seq, c.available, c.pending, c.redeemed, c.expired,
            c.reversed, c.credited, a.seq AS audited_seq, a.hash AS audited_hash
     FROM deliveries d JOIN cards c ON c.delivery_id = d.id
       LEFT JOIN card_audit a ON a.card_id = c.id AND a.seq = (SELECT MAX(seq) FROM card_audit WHERE card_id = c.id)
     WHERE d.org = ?1 AND d.id > ?2 AND d.id <= ?3 AND d.card_id IS NOT NULL AND c.txn_seq > 0`,
  )
    .bind(r.org, r.after, r.last)
    .all<Touched>();
  const heads: Head[] = [];
  for (let i = 0; i < results.length; i += LEDGER_CALLS_AT_ONCE) {
    heads.push(...(await Promise.all(results.slice(i, i + LEDGER_CALLS_AT_ONCE).map((c) => cardStub(env, c.id).ledgerHead()))));
  }
  return results.flatMap((c, i) => mirrorFinding(c, heads[i] ?? null));
}

function mirrorFinding(c: Touched, head: Head): Finding[] {
  const problems: string[] = [];
  if (c.audited_seq !== c.txn_seq) problems.push(`its D1 audit trail ends at transaction ${c.audited_seq ?? 0}, the card row says ${c.txn_seq}`);
  if (!head) problems.push("its ledger has no record of the card");
  else {
    if (head.seq !== c.txn_seq) problems.push(`its ledger is at transaction ${head.seq}, the D1 mirror at ${c.txn_seq}`);
    else if (head.head_hash !== c.audited_hash) problems.push(`the ledger's chain head differs from the D1 trail's at transaction ${head.seq}`);
    if (!head.chain_ok) problems.push("the ledger's own hash chain does not recompute");
    const parts = ["available", "pending", "redeemed", "expired", "reversed", "credited"] as const;
    const differ = head.seq === c.txn_seq ? parts.filter((p) => head.balance[p] !== c[p]) : [];
    for (const p of differ) problems.push(`${p} is ${c[p]} in D1, ${head.balance[p]} in the ledger`);
  }
  if (problems.length === 0) return [];
  return [
    {
      kind: "ledger_drift",
      entityType: "card",
      entityId: c.id,
      batchId: c.batch_id,
      poolId: c.pool_id,
      currency: c.currency,
      expected: head ? head.balance.available : null,
      actual: c.available,
      detail: `Card ${c.id}: ${problems.join("; ")}`,
      data: { check: "card_vs_ledger", delivery_id: c.delivery_id, ledger_seq: head?.seq ?? null, mirror_seq: c.txn_seq, trail_seq: c.audited_seq },
      facts: { problems },
    },
  ];
}
