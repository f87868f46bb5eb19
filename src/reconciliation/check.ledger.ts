/**
 * Ledger phase: each pool's Durable Object (the authority) against its D1 mirror. Per pool: the
 * DO's own integrity check, its committed bucket against the deliveries that committed value (when
 * none is mid-flight), the mirrored balance against the DO journal entry it claims to reflect,
 * then the journal entry by entry in pages (missing, altered or extra rows in `pool_ledger`).
 * Everything wrong with one pool becomes one `ledger_drift` finding on that pool. Holds that are
 * not a batch's (a retry's hold, say) are checked here too: one the alarm should have expired long
 * ago is an `expired_hold_unreleased` finding. (The batches phase checks batch holds.)
 */
import type { JournalLine } from "../../durable-objects/pool-reads";
import { BUCKETS, zeroBalance, type Balance } from "../../durable-objects/pool-types";
import { checkPoolIntegrity, journalPage, overdueHolds, syncPoolMirror } from "../pools/ledger-reads";
import { isBatchHold, RETRY_HOLD_PREFIX } from "../pools/op-ids";
import { HOLD_GRACE_MS } from "./check.batches";
import { addTotals, pageSize, type Finding, type StepContext, type StepResult } from "./types";

export const LEDGER_PAGE = 10_000;
const LIST_CAP = 20;
/** Overdue holds listed per pool and run: each is a stuck alarm, so a few already say it all. */
const OVERDUE_CAP = 100;

interface Acc {
  problems: string[];
  /** The stable part of the problems (no seq numbers that move on with the pool). */
  facts: string[];
  missing: number[];
  missingCount: number;
  altered: number[];
  alteredCount: number;
  extra: number;
  doAmount: number;
  d1Amount: number;
  balance: { bucket: string; do: number; d1: number } | null;
}

interface PoolCursor {
  id: string;
  currency: string;
  after: number;
  /** The mirror watermark after this run's sync: entries up to here must be in D1. */
  upto: number;
  /** The D1 row's `after` at seq `after`, to check the next row's `before` against. */
  prevAfter: string | null;
  acc: Acc;
}

export interface LedgerCursor {
  poolsAfter: string;
  pool: PoolCursor | null;
}

interface PoolRow extends Balance {
  id: string;
  currency: string;
  journal_seq: number;
}

export async function ledgerStep(ctx: StepContext): Promise<StepResult> {
  const cursor = (ctx.cursor as LedgerCursor | null) ?? { poolsAfter: "", pool: null };
  let rows = 0;
  let found: Finding[] = [];
  if (!cursor.pool) {
    const next = await ctx.env.DB.prepare(
      `SELECT id, currency, available, reserved, committed, funded, released, reversed, withdrawn, journal_seq
       FROM pools WHERE org = ? AND id > ? ORDER BY id LIMIT 1`,
    )
      .bind(ctx.org, cursor.poolsAfter)
      .first<PoolRow>();
    if (!next) return { findings: [], cursor: null, rows: 0 };
    cursor.pool = await startPool(ctx, next);
    found = await overdueHoldFindings(ctx, next);
    rows += 1 + found.length;
  }
  const pool = cursor.pool;
  const page = await journalPage(ctx.env, pool.id, pool.after, pageSize(ctx, LEDGER_PAGE));
  const entries = page.entries.filter((e) => e.seq <= pool.upto);
  const upper = entries.at(-1)?.seq ?? pool.upto;
  const { results: mirror } = await ctx.env.DB.prepare(
    "SELECT seq, op_id, kind, hold_id, item_id, amount, before, after, items FROM pool_ledger WHERE pool_id = ? AND seq > ? AND seq <= ? ORDER BY seq",
  )
    .bind(pool.id, pool.after, upper)
    .all<JournalLine & { before: string }>();
  compareEntries(pool, entries, mirror);
  rows += entries.length + mirror.length;
  pool.after = upper;
  if (entries.length > 0 && upper < pool.upto) return { findings: found, cursor, rows };

  const extra = await ctx.env.DB.prepare("SELECT COUNT(*) AS n FROM pool_ledger WHERE pool_id = ? AND seq > ?")
    .bind(pool.id, page.last_seq)
    .first<{ n: number }>();
  pool.acc.extra = extra?.n ?? 0;
  const finding = poolFinding(pool);
  return { findings: finding ? [...found, finding] : found, cursor: { poolsAfter: pool.id, pool: null }, rows };
}

/** The pool's holds other than batch holds that still reserve value well past their expiry. */
async function overdueHoldFindings(ctx: StepContext, pool: PoolRow): Promise<Finding[]> {
  const overdue = await overdueHolds(ctx.env, pool.id, ctx.now.getTime() - HOLD_GRACE_MS, OVERDUE_CAP);
  return overdue
    .filter((h) => !isBatchHold(h.hold_id))
    .map((h) => {
      const expired = new Date(h.expires_at).toISOString();
      const retryOf = h.hold_id.startsWith(RETRY_HOLD_PREFIX) ? h.hold_id.slice(RETRY_HOLD_PREFIX.length) : null;
      return {
        kind: "expired_hold_unreleased",
        entityType: "hold",
        entityId: h.hold_id,
        poolId: pool.id,
        currency: pool.currency,
        expected: 0,
        actual: h.remaining,
        detail: `Hold ${h.hold_id}${retryOf ? ` (the retry of exception ${retryOf})` : ""} expired at ${expired} but still reserves ${h.remaining} ${pool.currency}`,
        data: { hold_amount: h.amount, committed: h.committed, expires_at: expired, ...(retryOf ? { exception_id: retryOf } : {}) },
        facts: { remaining: h.remaining, expires_at: h.expires_at },
      };
    });
}

/** Drains the journal, then checks the DO's integrity and the mirrored balance; returns where the journal scan starts. */
async function startPool(ctx: StepContext, row: PoolRow): Promise<PoolCursor> {
  const acc: Acc = { problems: [], facts: [], missing: [], missingCount: 0, altered: [], alteredCount: 0, extra: 0, doAmount: 0, d1Amount: 0, balance: null };
  try {
    await syncPoolMirror(ctx.env, row.id);
  } catch (err) {
    acc.problems.push(`draining the journal to D1 failed: ${String(err).slice(0, 200)}`);
    acc.facts.push("sync_failed");
  }
  const mirrored =
    (await ctx.env.DB.prepare("SELECT id, currency, available, reserved, committed, funded, released, reversed, withdrawn, journal_seq FROM pools WHERE id = ?")
      .bind(row.id)
      .first<PoolRow>()) ?? row;
  const integrity = await checkPoolIntegrity(ctx.env, row.id);
  acc.problems.push(...integrity.problems.map((p) => `pool DO: ${p}`));
  acc.facts.push(...integrity.problems);
  addTotals(ctx.state, row.currency, { reserved: integrity.balance.reserved, committed: integrity.balance.committed });

  await compareDeliveries(ctx, row.id, integrity.balance.committed, acc);
  const head = await journalPage(ctx.env, row.id, 0, 1);
  if (mirrored.journal_seq !== head.mirrored_seq) {
    acc.problems.push(`D1 mirrors the journal up to seq ${mirrored.journal_seq}, the DO has confirmed up to ${head.mirrored_seq}`);
    acc.facts.push("mirror_behind");
  }
  const at = mirrored.journal_seq > 0 ? (await journalPage(ctx.env, row.id, mirrored.journal_seq - 1, 1)).entries[0] : undefined;
  const reflected: Balance | null = at && at.seq === mirrored.journal_seq ? JSON.parse(at.after) : mirrored.journal_seq === 0 ? zeroBalance() : null;
  if (!reflected) {
    acc.problems.push(`D1 says it mirrors seq ${mirrored.journal_seq}, which the DO journal does not have`);
    acc.facts.push("mirror_ahead");
  }
  for (const b of reflected ? BUCKETS : []) {
    if (reflected![b] !== mirrored[b]) {
      acc.balance ??= { bucket: b, do: reflected![b], d1: mirrored[b] };
      acc.problems.push(`D1 ${b} is ${mirrored[b]}, the DO had ${reflected![b]} at seq ${mirrored.journal_seq}`);
      acc.facts.push(`${b}:${reflected![b]}:${mirrored[b]}`);
    }
  }
  return { id: row.id, currency: row.currency, after: 0, upto: head.mirrored_seq, prevAfter: null, acc };
}

/**
 * The DO's committed bucket against what the pool's deliveries say is committed, when none is
 * mid-flight. Stored-value cards add what their ledgers say the pool still commits: the kept
 * (redeemed or expired) part of a reversed card or of one replaced by a reissue (whose new card
 * holds the rest), and bonus credits (`cards.credits`).
 */
async function compareDeliveries(ctx: StepContext, poolId: string, poolCommitted: number, acc: Acc): Promise<void> {
  // Per pool item (a reissue's replacement row carries its original's item; the original is left out).
  const d = await ctx.env.DB.prepare(
    `SELECT (SELECT COALESCE(SUM(amount), 0) FROM (
               SELECT MAX(amount) AS amount FROM deliveries WHERE org = ?1 AND pool_id = ?2 AND committed = 1 AND status NOT IN ('reversed', 'reissued') GROUP BY item))
          + (SELECT COALESCE(SUM(d.amount - c.base_reversed), 0) FROM deliveries d JOIN cards c ON c.id = d.card_id
               WHERE d.org = ?1 AND d.pool_id = ?2 AND d.status IN ('reversed', 'reissued') AND d.status <> 'delivered' AND c.txn_seq > 0)
          + (SELECT COALESCE(SUM(j.value ->> 'committed'), 0) FROM cards c, json_each(c.credits) j
               WHERE c.org = ?1 AND c.credits IS NOT NULL AND j.value ->> 'pool_id' = ?2) AS committed,
            (SELECT COUNT(*) FROM deliveries WHERE org = ?1 AND pool_id = ?2 AND status IN ('queued', 'sending') AND status <> 'delivered') AS in_flight`,
  )
    .bind(ctx.org, poolId)
    .first<{ committed: number; in_flight: number }>();
  if (!d || d.in_flight > 0 || d.committed === poolCommitted) return;
  acc.balance ??= { bucket: "committed_by_deliveries", do: poolCommitted, d1: d.committed };
  acc.problems.push(`the pool DO has ${poolCommitted} committed, its deliveries ${d.committed}`);
  acc.facts.push(`deliveries:${poolCommitted}:${d.committed}`);
}

function compareEntries(pool: PoolCursor, entries: JournalLine[], mirror: (JournalLine & { before: string })[]): void {
  const bySeq = new Map(mirror.map((m) => [m.seq, m]));
  const acc = pool.acc;
  let prevSeq = pool.after;
  for (const e of entries) {
    const m = bySeq.get(e.seq);
    const chained = m && (pool.prevAfter === null || prevSeq !== e.seq - 1 || m.before === pool.prevAfter);
    if (!m) {
      acc.missingCount++;
      if (acc.missing.length < LIST_CAP) acc.missing.push(e.seq);
      acc.doAmount += e.amount;
    } else if (
      !chained ||
      m.op_id !== e.op_id ||
      m.kind !== e.kind ||
      m.hold_id !== e.hold_id ||
      m.item_id !== e.item_id ||
      Number(m.amount) !== e.amount ||
      m.after !== e.after ||
      (m.items ?? null) !== (e.items ?? null)
    ) {
      acc.alteredCount++;
      if (acc.altered.length < LIST_CAP) acc.altered.push(e.seq);
      acc.doAmount += e.amount;
      acc.d1Amount += Number(m.amount);
    }
    pool.prevAfter = m ? m.after : null;
    prevSeq = e.seq;
  }
}

function poolFinding(pool: PoolCursor): Finding | null {
  const a = pool.acc;
  const journal: string[] = [];
  if (a.missingCount)
    journal.push(`${a.missingCount} journal entries missing from the D1 mirror (seq ${a.missing.join(", ")}${a.missingCount > a.missing.length ? ", …" : ""})`);
  if (a.alteredCount)
    journal.push(
      `${a.alteredCount} mirrored entries differ from the DO journal (seq ${a.altered.join(", ")}${a.alteredCount > a.altered.length ? ", …" : ""})`,
    );
  if (a.extra) journal.push(`${a.extra} entries in the D1 mirror that the DO journal does not have`);
  const problems = [...a.problems, ...journal];
  if (problems.length === 0) return null;
  const useJournal = a.missingCount + a.alteredCount > 0;
  return {
    kind: "ledger_drift",
    entityType: "pool",
    entityId: pool.id,
    poolId: pool.id,
    currency: pool.currency,
    expected: useJournal ? a.doAmount : (a.balance?.do ?? null),
    actual: useJournal ? a.d1Amount : (a.balance?.d1 ?? null),
    detail: problems.join("; "),
    data: {
      check: "pool_vs_mirror",
      missing_seqs: a.missing,
      missing_count: a.missingCount,
      altered_seqs: a.altered,
      altered_count: a.alteredCount,
      extra_count: a.extra,
      balance: a.balance,
      problems: a.problems,
    },
    facts: { pool: a.facts, missing: a.missing, missingCount: a.missingCount, altered: a.altered, alteredCount: a.alteredCount, extra: a.extra },
  };
}
