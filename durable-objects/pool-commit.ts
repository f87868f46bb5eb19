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
}

export function newCommitPlan(hold: Hold, day: string, known: Map<string, ItemRow>): CommitPlan {
  return { hold, day, known, added: [], moved: [] };
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
  return { id: item.id, status: "committed" };
}

/** Limits count what is stored plus what this call has already moved (not yet written). */
function limitExceeded(store: PoolStore, limits: Limits, plan: CommitPlan, item: Item): string | null {
  const { daily_commit_limit: daily, recipient_daily_limit: perRecipient } = limits;
  const sum = (list: Item[]) => list.reduce((s, i) => s + i.amount, 0);
  if (daily !== undefined && store.dailyCommitted(plan.day) + sum(plan.moved) + item.amount > daily) {
    return `The pool's daily limit of ${daily} would be exceeded`;
  }
  if (perRecipient !== undefined && item.recipientKey) {
    const sameRecipient = sum(plan.moved.filter((i) => i.recipientKey === item.recipientKey));
    if (store.recipientDailyCommitted(item.recipientKey, plan.day) + sameRecipient + item.amount > perRecipient) {
      return `The per-recipient daily limit of ${perRecipient} would be exceeded`;
    }
  }
  return null;
}
