/**
 * Deciding, item by item, what one commit call does: an item seen before is a no-op (or refused
 * when its arguments differ), a refunded one may be committed again, and a new one must fit the
 * hold's remainder and the pool's limits. Runs inside the FundingPool's transaction; the caller
 * writes what the plan collected.
 */
import type { z } from "zod";
import type { ItemRow, PoolStore } from "./pool-store";
import type { CommitItem, Hold, ItemOutcome, Limits } from "./pool-types";

type Item = z.infer<typeof CommitItem>;

export interface CommitPlan {
  hold: Hold;
  day: string;
  /** Items stored before this call, plus the ones it commits. */
  known: Map<string, ItemRow>;
  /** New items to insert. */
  added: Item[];
  /** Every item whose value moves in this call (new and re-committed). */
  moved: Item[];
  /** All items of the call: their recipients' stored totals are read in one query when a limit needs them. */
  items: readonly Item[];
  /** Committed today, stored plus moved by this call: read once per call, only when a limit needs it. */
  today?: number;
  byRecipient?: Map<string, number>;
}

export function newCommitPlan(hold: Hold, day: string, known: Map<string, ItemRow>, items: readonly Item[]): CommitPlan {
  return { hold, day, known, added: [], moved: [], items };
}

export function planItem(store: PoolStore, limits: Limits, plan: CommitPlan, item: Item): ItemOutcome {
  const { hold, day, known } = plan;
  const prior = known.get(item.id);
  const recommit = prior?.state === "refunded";
  if (prior && !recommit) {
    if (prior.hold_id !== hold.hold_id || prior.amount !== item.amount) {
      return { id: item.id, status: "rejected", code: "operation_id_reused", detail: "Item was committed with other arguments" };
    }
    return { id: item.id, status: "already_committed" };
  }
  if (hold.state !== "pending") return { id: item.id, status: "rejected", code: "hold_not_active", detail: `Hold is ${hold.state}` };
  if (item.amount > hold.remaining) {
    return { id: item.id, status: "rejected", code: "insufficient_funds", detail: `The hold has ${hold.remaining} left` };
  }
  const limitProblem = limitExceeded(store, limits, plan, item);
  if (limitProblem) return { id: item.id, status: "rejected", code: "limit_exceeded", detail: limitProblem };
  hold.remaining -= item.amount;
  hold.committed += item.amount;
  if (recommit) store.recommitItem(item, hold.hold_id, day);
  else plan.added.push(item);
  known.set(item.id, { item_id: item.id, hold_id: hold.hold_id, amount: item.amount, recipient_key: item.recipientKey, state: "committed" });
  plan.moved.push(item);
  countMoved(plan, item);
  return { id: item.id, status: "committed" };
}

/**
 * Limits count what is stored plus what this call has already moved. The stored totals are read
 * once per call (one query for all of its recipients), then kept up to date in the plan.
 */
function limitExceeded(store: PoolStore, limits: Limits, plan: CommitPlan, item: Item): string | null {
  const { daily_commit_limit: daily, recipient_daily_limit: perRecipient } = limits;
  if (daily !== undefined) {
    plan.today ??= store.dailyCommitted(plan.day);
    if (plan.today + item.amount > daily) return `The pool's daily limit of ${daily} would be exceeded`;
  }
  if (perRecipient !== undefined && item.recipientKey) {
    plan.byRecipient ??= store.recipientsDailyCommitted([...new Set(plan.items.map((i) => i.recipientKey).filter(Boolean))], plan.day);
    if ((plan.byRecipient.get(item.recipientKey) ?? 0) + item.amount > perRecipient) {
      return `The per-recipient daily limit of ${perRecipient} would be exceeded`;
    }
  }
  return null;
}

function countMoved(plan: CommitPlan, item: Item): void {
  if (plan.today !== undefined) plan.today += item.amount;
  if (plan.byRecipient && item.recipientKey) plan.byRecipient.set(item.recipientKey, (plan.byRecipient.get(item.recipientKey) ?? 0) + item.amount);
}
