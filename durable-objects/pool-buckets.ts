/**
 * A funding pool's buckets in memory and the journal entries of the running transaction. Every
 * change of a bucket goes through `move`, which records the balance before and after; `problem`
 * checks the invariant available + reserved + committed = funded − withdrawn.
 */
import type { PoolStore } from "./pool-store";
import { zeroBalance, type Balance } from "./pool-types";

export const ZERO: Balance = zeroBalance();

export interface JournalContext {
  opId: string;
  actor: string;
  holdId?: string;
  itemId?: string;
  reference?: string;
  items?: string[];
}

type JournalEntry = Parameters<PoolStore["appendJournal"]>[0][number];

export class Buckets {
  balance: Balance;
  /** Journal entries of the running transaction, written in one statement when it ends. */
  journal: JournalEntry[] = [];
  private snapshot: Balance | null = null;

  constructor(balance: Balance = ZERO) {
    this.balance = { ...balance };
  }

  /** Starts a transaction: `rollback` returns to this balance; the journal starts empty. */
  begin(): void {
    this.snapshot = { ...this.balance };
    this.journal = [];
  }

  rollback(): void {
    if (this.snapshot) this.balance = this.snapshot;
  }

  end(): void {
    this.snapshot = null;
    this.journal = [];
  }

  /** Applies bucket changes and journals them with the balance before and after. */
  move(kind: string, amount: number, deltas: Partial<Balance>, ctx: JournalContext): void {
    const before = JSON.stringify(this.balance);
    for (const [k, d] of Object.entries(deltas) as [keyof Balance, number][]) this.balance[k] += d;
    this.journal.push({
      op_id: ctx.opId,
      kind,
      hold_id: ctx.holdId ?? null,
      item_id: ctx.itemId ?? null,
      amount,
      before,
      after: JSON.stringify(this.balance),
      actor: ctx.actor,
      reference: ctx.reference ?? null,
      items: ctx.items ? JSON.stringify(ctx.items) : null,
    });
  }

  /** What breaks the invariant (a negative or non-integer bucket, or buckets that do not add up), if anything. */
  problem(): string | null {
    const b = this.balance;
    for (const [k, v] of Object.entries(b)) if (v < 0 || !Number.isSafeInteger(v)) return `${k} is ${v}`;
    if (b.available + b.reserved + b.committed !== b.funded - b.withdrawn) return `buckets ${JSON.stringify(b)} do not add up`;
    return null;
  }
}
