/**
 * Deliveries phase: the org's deliveries in pages of DELIVERY_PAGE ids (index deliveries(org, id)).
 * Each page is checked with a few set-based queries rather than read row by row: recipients paid
 * twice, people paid again within the prior-payout window, deliveries stuck in queued/sending,
 * failed or held deliveries nobody resolved, committed value that disagrees with the pool DO
 * (check.items.ts), issued cards that disagree with their delivery, and cards whose balance does not
 * add up (check.cards.ts).
 */
import { getSettings } from "../settings/settings.service";
import { duplicatesAcrossBatches, duplicatesInPage } from "./check.duplicates";
import { cardLedgerFindings, cardMirrorFindings } from "./check.cards";
import { itemFindings } from "./check.items";
import { addTotals, pageSize, type Finding, type StepContext, type StepResult } from "./types";
import { cardIdSql } from "../delivery/rewards";

export const DELIVERY_PAGE = 10_000;
/** A delivery queued or sending, unclaimed and untouched this long, is stuck. */
export const STUCK_AFTER_MS = 30 * 60_000;

export interface Range {
  org: string;
  after: string;
  last: string;
}

interface Row {
  id: string;
  batch_id: string;
  pool_id: string;
  status: string;
  amount: number;
  currency: string;
  committed: number;
  attempts: number;
  updated_at: string;
}
interface CardRow {
  id: string;
  batch_id: string;
  pool_id: string;
  status: string;
  amount: number;
  currency: string;
  card_id: string | null;
  card: string | null;
  initial_amount: number | null;
  card_currency: string | null;
  card_status: string | null;
}

const IN_RANGE = "org = ?1 AND id > ?2 AND id <= ?3";

export async function deliveriesStep(ctx: StepContext): Promise<StepResult> {
  const after = (ctx.cursor as { after: string } | null)?.after ?? "";
  const db = ctx.env.DB;
  const page = await db
    .prepare(`SELECT COUNT(*) AS n, MAX(id) AS last FROM (SELECT id FROM deliveries WHERE org = ?1 AND id > ?2 ORDER BY id LIMIT ?3)`)
    .bind(ctx.org, after, pageSize(ctx, DELIVERY_PAGE))
    .first<{ n: number; last: string | null }>();
  if (!page?.last) return { findings: [], cursor: null, rows: 0 };
  const range: Range = { org: ctx.org, after, last: page.last };
  const stuckBefore = new Date(ctx.now.getTime() - STUCK_AFTER_MS).toISOString();
  const [anomalies, cards, campaignSums] = await db.batch<Record<string, unknown>>([
    db
      .prepare(
        `SELECT id, batch_id, pool_id, status, amount, currency, committed, attempts, updated_at FROM deliveries
       WHERE ${IN_RANGE} AND (
         (status IN ('queued', 'sending') AND updated_at < ?4 AND (claimed_until IS NULL OR claimed_until < ?5))
         OR status IN ('failed', 'held'))`,
      )
      .bind(range.org, range.after, range.last, stuckBefore, ctx.now.toISOString()),
    db
      .prepare(
        `SELECT d.id, d.batch_id, d.pool_id, d.status, d.amount, d.currency, d.card_id, c.id AS card, c.initial_amount, c.currency AS card_currency, c.status AS card_status
       FROM deliveries d LEFT JOIN cards c ON c.id = ${cardIdSql("d.id")}
       WHERE d.org = ?1 AND d.id > ?2 AND d.id <= ?3 AND (
         (d.status = 'delivered' AND d.card_id IS NOT NULL
           AND (c.id IS NULL OR c.id <> d.card_id OR c.initial_amount <> d.amount OR c.currency <> d.currency OR c.status IN ('void', 'reversed')))
         OR (d.status = 'failed' AND c.status = 'active'))`,
      )
      .bind(range.org, range.after, range.last),
    // Campaign rewards have no batch for the batches phase to total: their page's sums count here
    // (planned: every reward but a reissue's replaced row, whose item its replacement carries).
    db
      .prepare(
        `SELECT currency, SUM(CASE WHEN status <> 'reissued' THEN amount ELSE 0 END) AS planned,
                SUM(CASE WHEN status = 'delivered' THEN amount ELSE 0 END) AS delivered, SUM(CASE WHEN status = 'failed' THEN amount ELSE 0 END) AS failed,
                SUM(CASE WHEN status = 'reversed' THEN amount ELSE 0 END) AS reversed
         FROM deliveries WHERE ${IN_RANGE} AND batch_id IS NULL GROUP BY currency`,
      )
      .bind(range.org, range.after, range.last),
  ]);
  for (const t of campaignSums!.results as unknown as { currency: string; planned: number; delivered: number; failed: number; reversed: number }[]) {
    addTotals(ctx.state, t.currency, { planned: t.planned, delivered: t.delivered, failed: t.failed, reversed: t.reversed });
  }
  const windowDays = (await getSettings(db, ctx.org)).prior_payout_window_days;
  const findings = [
    ...(await statusFindings(ctx, anomalies!.results as unknown as Row[])),
    ...(await itemFindings(ctx.env, range)),
    ...cardFindings(cards!.results as unknown as CardRow[]),
    ...(await cardLedgerFindings(db, range)),
    ...(await cardMirrorFindings(ctx.env, range)),
    ...(await duplicatesInPage(db, range)),
    ...(windowDays > 0 ? await duplicatesAcrossBatches(db, range, windowDays) : []),
  ];
  // A short page was the last one: the phase ends without an extra empty step.
  return { findings, cursor: page.n < pageSize(ctx, DELIVERY_PAGE) ? null : { after: page.last }, rows: page.n };
}

async function statusFindings(ctx: StepContext, rows: Row[]): Promise<Finding[]> {
  const unresolved = rows.filter((r) => r.status === "failed" || r.status === "held");
  const resolved = new Set<string>();
  if (unresolved.length > 0) {
    // Settled: someone resolved an exception about it and none is open again (a failed retry opens a new one).
    const { results } = await ctx.env.DB.prepare(
      "SELECT entity_id FROM exceptions WHERE org = ? AND entity_id IN (SELECT value FROM json_each(?)) GROUP BY entity_id HAVING MAX(status = 'open') = 0",
    )
      .bind(ctx.org, JSON.stringify(unresolved.map((r) => r.id)))
      .all<{ entity_id: string }>();
    for (const r of results) resolved.add(r.entity_id);
  }
  const out: Finding[] = [];
  for (const r of rows) {
    const base = { entityType: "delivery", entityId: r.id, batchId: r.batch_id, poolId: r.pool_id, currency: r.currency };
    const data = { status: r.status, attempts: r.attempts, updated_at: r.updated_at, committed: r.committed === 1 };
    if (r.status === "queued" || r.status === "sending") {
      out.push({
        ...base,
        kind: "stuck_delivery",
        expected: null,
        actual: r.amount,
        data,
        facts: { status: r.status },
        detail: `Delivery ${r.id} has been ${r.status} since ${r.updated_at} (${r.attempts} attempts) and nothing is working on it`,
      });
    } else if (!resolved.has(r.id)) {
      out.push({
        ...base,
        kind: "failed_unresolved",
        expected: null,
        actual: r.amount,
        data,
        facts: { status: r.status },
        detail: `Delivery ${r.id} is ${r.status} and no exception about it has been resolved`,
      });
    }
  }
  return out;
}

function cardFindings(rows: CardRow[]): Finding[] {
  return rows.map((r): Finding => {
    const base = { batchId: r.batch_id, poolId: r.pool_id, currency: r.currency, entityType: "card", entityId: r.card ?? r.card_id ?? r.id };
    if (r.status === "failed") {
      return {
        ...base,
        kind: "orphan_code",
        expected: 0,
        actual: r.initial_amount,
        facts: { delivery: r.id, status: r.status },
        data: { delivery_id: r.id, delivery_status: r.status, card_status: r.card_status },
        detail: `Card ${r.card} is active with ${r.initial_amount} ${r.card_currency} but its delivery ${r.id} failed; void it`,
      };
    }
    const problem = !r.card
      ? "does not exist"
      : r.card !== r.card_id
        ? `is ${r.card}, not ${r.card_id}`
        : r.card_status === "void" || r.card_status === "reversed"
          ? `is ${r.card_status}`
          : `holds ${r.initial_amount} ${r.card_currency}`;
    return {
      ...base,
      kind: "ledger_drift",
      expected: r.amount,
      actual: r.card ? r.initial_amount : 0,
      facts: { problem },
      data: { check: "card_vs_delivery", delivery_id: r.id, card_status: r.card_status },
      detail: `Delivery ${r.id} delivered ${r.amount} ${r.currency} on card ${r.card_id}, whose stored card ${problem}`,
    };
  });
}
