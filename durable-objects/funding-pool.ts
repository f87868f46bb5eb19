import { DurableObject } from "cloudflare:workers";
import type { z } from "zod";
import type { Env } from "../src/env";
import { planCampaignClaim } from "./pool-campaign";
import { newCommitPlan, planItem } from "./pool-commit";
import { Buckets, ZERO, type JournalContext } from "./pool-buckets";
import { mirrorJournal } from "./pool-mirror";
import {
  holdsWithItems,
  itemsDisagreeing,
  journalPage,
  openHolds,
  overdueHolds,
  type HoldTotals,
  type ItemState,
  type JournalPage,
  type OpenHold,
} from "./pool-reads";
import { PoolStore, type PoolMeta } from "./pool-store";
import {
  CampaignClaimArgs,
  CommitArgs,
  FundArgs,
  InitArgs,
  RefundArgs,
  ReleaseArgs,
  ReserveArgs,
  ReverseArgs,
  fail,
  type Balance,
  type CampaignClaimInput,
  type CampaignItemOutcome,
  type CommitInput,
  type FundInput,
  type Hold,
  type InitInput,
  type ItemOutcome,
  type PoolResult,
  type RefundInput,
  type ReleaseInput,
  type ReserveInput,
  type ReverseInput,
} from "./pool-types";

/** Journal entries reach the D1 mirror this long after a write, so a burst of writes drains together. */
const MIRROR_DELAY_MS = 250;
const utcDay = (t = Date.now()) => new Date(t).toISOString().slice(0, 10);

/**
 * One SQLite-backed Durable Object per funding pool: the authority for its balance. Every method
 * reads, checks and writes inside one `transactionSync` (no await in between), asserts the
 * invariant available + reserved + committed = funded − withdrawn, and is idempotent by the
 * caller's operation id (commit: by item id). The journal reaches D1 through the alarm.
 */
export class FundingPool extends DurableObject<Env> {
  private readonly store: PoolStore;
  private meta: PoolMeta | null = null;
  private readonly buckets: Buckets;
  private alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new PoolStore(ctx.storage);
    const loaded = this.store.loadMeta();
    this.buckets = new Buckets(loaded?.balance);
    if (loaded) {
      this.meta = loaded.meta;
      this.store.indexRecipients(loaded.meta.limits.recipient_daily_limit !== undefined);
    }
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  init(input: InitInput): PoolResult<{ created: boolean }> {
    const args = InitArgs.parse(input);
    if (this.meta) return this.ok({ created: false });
    this.ctx.storage.transactionSync(() => {
      this.store.insertMeta(args, ZERO);
      this.store.indexRecipients(args.limits.recipient_daily_limit !== undefined);
    });
    this.meta = args;
    return this.ok({ created: true });
  }

  getBalance(): PoolResult {
    return this.meta ? this.ok({}) : fail("not_initialized", "The pool has not been initialised");
  }

  getHold(holdId: string): Hold | null {
    return this.store.getHold(holdId) ?? null;
  }

  fund(input: FundInput): Promise<PoolResult> {
    return this.op("fund", FundArgs, input, (a) => {
      // Every bucket stays a safe integer (≤ 2^53−1): past it, sums would silently round.
      const room = Number.MAX_SAFE_INTEGER - Math.max(this.balance.funded, this.balance.available);
      if (a.amount > room)
        return fail("amount_too_large", `Funding ${a.amount} would take the pool past ${Number.MAX_SAFE_INTEGER} (at most ${room} more fits)`);
      this.buckets.move("fund", a.amount, { available: a.amount, funded: a.amount }, a);
      return this.ok({});
    });
  }

  withdraw(input: FundInput): Promise<PoolResult> {
    return this.op("withdraw", FundArgs, input, (a) => {
      if (a.amount > this.balance.available) return fail("insufficient_funds", `Only ${this.balance.available} is available to withdraw`);
      this.buckets.move("withdraw", a.amount, { available: -a.amount, withdrawn: a.amount }, a);
      return this.ok({});
    });
  }

  reserve(input: ReserveInput): Promise<PoolResult<{ hold: Hold }>> {
    return this.op(
      "reserve",
      ReserveArgs,
      input,
      (a) => {
        if (a.expiresAt <= Date.now()) return fail("invalid_argument", "expiresAt must be in the future");
        const prior = this.store.getHold(a.holdId);
        const reopen = prior && a.reopen && prior.state !== "pending" && prior.committed === 0;
        if (prior && !reopen) return fail("hold_exists", `Hold ${a.holdId} already exists`);
        const max = this.meta!.limits.max_hold_amount;
        if (max !== undefined && a.amount > max) return fail("limit_exceeded", `A hold may be at most ${max}; asked ${a.amount}`);
        if (a.amount > this.balance.available) return fail("insufficient_funds", `Needs ${a.amount}, ${this.balance.available} available`);
        // A reopened hold keeps what it released before, so amount = remaining + committed + released still holds.
        const hold: Hold =
          prior && reopen
            ? { ...prior, amount: prior.amount + a.amount, remaining: a.amount, state: "pending", expires_at: a.expiresAt }
            : { hold_id: a.holdId, amount: a.amount, remaining: a.amount, committed: 0, released: 0, state: "pending", expires_at: a.expiresAt };
        if (reopen) this.store.reopenHold(hold);
        else this.store.insertHold(hold);
        this.buckets.move("reserve", a.amount, { available: -a.amount, reserved: a.amount }, { ...a, holdId: a.holdId });
        return this.ok({ hold });
      },
      (a) => a.expiresAt,
    );
  }

  /** Moves value from a hold to committed for many items at once; an item committed before is a no-op. */
  async commit(input: CommitInput): Promise<PoolResult<{ hold: Hold; items: ItemOutcome[] }>> {
    const parsed = CommitArgs.safeParse(input);
    if (!parsed.success) return fail("invalid_argument", parsed.error.issues.map((i) => i.message).join("; "));
    if (!this.meta) return fail("not_initialized", "The pool has not been initialised");
    const a = parsed.data;
    const result = this.transact(() => {
      const hold = this.store.getHold(a.holdId);
      if (!hold) return fail("hold_not_found", `No hold ${a.holdId}`);
      const day = utcDay();
      const plan = newCommitPlan(hold, day, this.store.getItems(a.items.map((i) => i.id)), a.items);
      const items = a.items.map((item) => planItem(this.store, this.meta!.limits, plan, item));
      const { added, moved } = plan;
      this.store.insertItems(added, hold.hold_id, day);
      const total = moved.reduce((s, i) => s + i.amount, 0);
      if (total > 0) {
        // Daily totals are only read to enforce a daily limit, and limits are fixed at creation.
        if (this.meta!.limits.daily_commit_limit !== undefined) this.store.addDailyCommitted(day, total);
        // One journal entry per call (its items listed), not per item: 100× fewer rows here and in the D1 mirror.
        const ids = moved.map((i) => i.id);
        this.buckets.move(
          "commit",
          total,
          { reserved: -total, committed: total },
          {
            opId: `commit:${hold.hold_id}:${ids[0]}`,
            actor: a.actor,
            holdId: hold.hold_id,
            itemId: ids.length === 1 ? ids[0] : undefined,
            items: ids,
          },
        );
      }
      this.store.saveHold(hold);
      return this.ok({ hold, items });
    });
    if (result.ok && result.items.some((i) => i.status === "committed")) await this.scheduleAlarm(Date.now() + MIRROR_DELAY_MS);
    return result;
  }

  /**
   * Claims many rewards of one campaign at once (src/pools/campaign-budget.ts): per reward, its caps
   * and then the first of the campaign's holds with room (see pool-campaign.ts). One journal entry
   * per hold used. Answers each reward's outcome and the value the holds have committed in total.
   */
  async claimCampaignRewards(input: CampaignClaimInput): Promise<PoolResult<{ items: CampaignItemOutcome[]; committed: number }>> {
    const parsed = CampaignClaimArgs.safeParse(input);
    if (!parsed.success) return fail("invalid_argument", parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
    if (!this.meta) return fail("not_initialized", "The pool has not been initialised");
    const a = parsed.data;
    const result = this.transact(() => {
      const day = utcDay();
      const plan = planCampaignClaim(this.store, this.meta!.limits, a, day);
      const amountOf = new Map(a.items.map((i) => [i.id, i.amount]));
      let total = 0;
      for (const hold of plan.holds) {
        const ids = plan.moved.get(hold.hold_id);
        if (!ids) continue;
        this.store.insertItems(plan.added.get(hold.hold_id) ?? [], hold.hold_id, day);
        this.store.saveHold(hold);
        const amount = ids.reduce((s, id) => s + amountOf.get(id)!, 0);
        total += amount;
        this.buckets.move(
          "commit",
          amount,
          { reserved: -amount, committed: amount },
          { opId: `commit:${hold.hold_id}:${ids[0]}`, actor: a.actor, holdId: hold.hold_id, itemId: ids.length === 1 ? ids[0] : undefined, items: ids },
        );
      }
      if (total > 0 && this.meta!.limits.daily_commit_limit !== undefined) this.store.addDailyCommitted(day, total);
      this.store.addCampaignCounters(a.campaignId, plan.counters);
      this.store.insertCampaignItems(a.campaignId, plan.counted);
      return this.ok({ items: plan.outcomes, committed: plan.holds.reduce((s, h) => s + h.committed, 0) });
    });
    if (result.ok && result.items.some((i) => i.status === "committed")) await this.scheduleAlarm(Date.now() + MIRROR_DELAY_MS);
    return result;
  }

  release(input: ReleaseInput): Promise<PoolResult<{ hold: Hold; released: number }>> {
    return this.op("release", ReleaseArgs, input, (a) => {
      const hold = this.store.getHold(a.holdId);
      if (!hold) return fail("hold_not_found", `No hold ${a.holdId}`);
      if (hold.state !== "pending") {
        if (a.amount === "rest") return this.ok({ hold, released: 0 });
        return fail("hold_not_active", `Hold ${a.holdId} is ${hold.state}`);
      }
      const idle = Date.now() - this.store.touchedAt(a.holdId);
      if (a.idleMs !== undefined && idle < a.idleMs) return fail("hold_busy", `Hold ${a.holdId} was used ${idle} ms ago`);
      const amount = a.amount === "rest" ? hold.remaining : a.amount;
      if (amount > hold.remaining) return fail("insufficient_funds", `The hold has ${hold.remaining} left; asked ${amount}`);
      this.releaseFromHold(hold, amount, "release", a, a.amount === "rest");
      return this.ok({ hold, released: amount });
    });
  }

  reverse(input: ReverseInput): Promise<PoolResult<{ amount: number }>> {
    return this.op("reverse", ReverseArgs, input, (a) => {
      const item = this.store.getItem(a.itemId);
      if (!item) return fail("item_not_found", `No committed item ${a.itemId}`);
      if (item.state !== "committed") return fail("item_not_committed", `Item ${a.itemId} is ${item.state}`);
      const amount = a.amount ?? item.amount;
      if (amount > item.amount) return fail("invalid_argument", `Item ${a.itemId} commits ${item.amount}; cannot reverse ${amount}`);
      // A partial reversal (a card's unspent rest) leaves the spent part committed under the same item.
      if (amount === item.amount) this.store.setItemState(a.itemId, "reversed");
      else this.store.reduceItem(a.itemId, amount);
      this.buckets.move("reverse", amount, { committed: -amount, available: amount, reversed: amount }, { ...a, holdId: item.hold_id });
      return this.ok({ amount });
    });
  }

  /**
   * Pushes a pending hold's expiry later (never earlier): delivery pins the hold while it runs so it
   * cannot expire half-way. Monotone, so calling it again is harmless.
   */
  async extendHold(holdId: string, expiresAt: number): Promise<PoolResult<{ hold: Hold }>> {
    if (!this.meta) return fail("not_initialized", "The pool has not been initialised");
    const result = this.transact<PoolResult<{ hold: Hold }>>(() => {
      const hold = this.store.getHold(holdId);
      if (!hold) return fail("hold_not_found", `No hold ${holdId}`);
      if (hold.state !== "pending") return fail("hold_not_active", `Hold ${holdId} is ${hold.state}`);
      if (expiresAt > hold.expires_at) {
        hold.expires_at = expiresAt;
        this.store.extendHold(holdId, expiresAt);
      }
      return this.ok({ hold });
    });
    return result;
  }

  /** Marks a pending hold as in use now (a submit adopting it): a release with `idleMs` then leaves it alone. */
  touchHold(holdId: string): Hold | null {
    const hold = this.store.getHold(holdId);
    if (hold?.state === "pending") this.store.touchHold(holdId);
    return hold ?? null;
  }

  /** Gives back a committed item whose reward was never delivered: to its hold if still pending, else to available. */
  refund(input: RefundInput): Promise<PoolResult<{ amount: number; to: "hold" | "available" }>> {
    return this.op("refund", RefundArgs, input, (a) => {
      const item = this.store.getItem(a.itemId);
      if (!item) return fail("item_not_found", `No committed item ${a.itemId}`);
      if (item.state !== "committed") return fail("item_not_committed", `Item ${a.itemId} is ${item.state}`);
      this.store.setItemState(a.itemId, "refunded");
      this.store.uncountCampaignItem(a.itemId, item.amount);
      const hold = this.store.getHold(item.hold_id);
      const ctx = { ...a, holdId: item.hold_id, itemId: a.itemId };
      if (hold?.state === "pending") {
        hold.remaining += item.amount;
        hold.committed -= item.amount;
        this.store.saveHold(hold);
        this.buckets.move("refund", item.amount, { committed: -item.amount, reserved: item.amount }, ctx);
        return this.ok({ amount: item.amount, to: "hold" as const });
      }
      this.buckets.move("refund", item.amount, { committed: -item.amount, available: item.amount, released: item.amount }, ctx);
      return this.ok({ amount: item.amount, to: "available" as const });
    });
  }

  /** Read-only: these items as the pool has them (missing ones left out). A re-run campaign evaluation finishes what they committed. */
  itemStates(ids: string[]): { item_id: string; hold_id: string; amount: number; state: string }[] {
    return [...this.store.getItems(ids).values()].map((i) => ({ item_id: i.item_id, hold_id: i.hold_id, amount: i.amount, state: i.state }));
  }

  /** Cross-checks the buckets against holds and items (used by tests and reconciliation). */
  checkIntegrity(): { ok: boolean; problems: string[]; balance: Balance } {
    const problems: string[] = [];
    const pending = this.store.pendingHoldTotal();
    if (pending !== this.balance.reserved) problems.push(`reserved ${this.balance.reserved} != pending holds ${pending}`);
    const items = this.store.committedItemTotal();
    if (items !== this.balance.committed) problems.push(`committed ${this.balance.committed} != committed items ${items}`);
    const invariant = this.buckets.problem();
    if (invariant) problems.push(invariant);
    return { ok: problems.length === 0, problems, balance: { ...this.balance } };
  }

  /** Read-only, for reconciliation: journal entries after `afterSeq`, oldest first, and the mirror watermark. */
  journalPage(afterSeq: number, limit: number): JournalPage {
    return journalPage(this.ctx.storage.sql, afterSeq, limit);
  }

  /** Read-only, for reconciliation: these holds with the value their items still commit. */
  holdsWithItems(holdIds: string[]): HoldTotals[] {
    return holdsWithItems(this.ctx.storage.sql, holdIds);
  }

  /** Read-only, for the orphan-hold sweep: pending holds after `afterHoldId` in id order, a page at a time. */
  openHolds(afterHoldId: string, limit: number): OpenHold[] {
    return openHolds(this.ctx.storage.sql, afterHoldId, limit);
  }

  /** Read-only, for reconciliation: pending holds the alarm should have expired before `before`. */
  overdueHolds(before: number, limit: number): Hold[] {
    return overdueHolds(this.ctx.storage.sql, before, limit);
  }

  /** Read-only, for reconciliation: the items whose pool record disagrees with what D1 says (see pool-reads.ts). */
  itemsDisagreeing(expected: string): ItemState[] {
    return itemsDisagreeing(this.ctx.storage.sql, expected);
  }

  /** Drains the journal to D1 now (the alarm does it too); returns how many entries were written. */
  syncMirror(): Promise<number> {
    return mirrorJournal(this.env.DB, this.store, this.meta);
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    this.expireDueHolds();
    await mirrorJournal(this.env.DB, this.store, this.meta);
    const next = this.store.nextExpiry();
    if (next !== null) await this.scheduleAlarm(next);
  }

  private expireDueHolds(): void {
    this.transact(() => {
      for (const hold of this.store.dueHolds(Date.now())) {
        this.releaseFromHold(hold, hold.remaining, "expire", { opId: `expire:${hold.hold_id}`, actor: "system:expiry", holdId: hold.hold_id }, true);
      }
      return this.ok({});
    });
  }

  /**
   * Returns value from a hold to available. The hold resolves (at most once) when `close` is set
   * (release "rest", expiry) or nothing is left; a hold emptied by commits stays pending until then.
   */
  private releaseFromHold(hold: Hold, amount: number, kind: "release" | "expire", ctx: JournalContext, close: boolean): void {
    hold.remaining -= amount;
    hold.released += amount;
    if (close || hold.remaining === 0) hold.state = kind === "expire" ? "expired" : hold.committed > 0 ? "posted" : "released";
    this.store.saveHold(hold);
    if (amount > 0) this.buckets.move(kind, amount, { reserved: -amount, available: amount, released: amount }, { ...ctx, holdId: hold.hold_id });
  }

  private get balance(): Balance {
    return this.buckets.balance;
  }

  /** Runs a generic idempotent operation: replay returns the first result, other args are refused. */
  private async op<S extends z.ZodType<{ opId: string }>, T extends object>(
    kind: string,
    schema: S,
    input: unknown,
    body: (args: z.infer<S>) => PoolResult<T>,
    alarmFor?: (args: z.infer<S>) => number,
  ): Promise<PoolResult<T>> {
    const parsed = schema.safeParse(input);
    if (!parsed.success) return fail("invalid_argument", parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
    if (!this.meta) return fail("not_initialized", "The pool has not been initialised");
    const args = parsed.data;
    const key = JSON.stringify({ kind, ...args });
    const result = this.transact<PoolResult<T>>(() => {
      const prior = this.store.findOp(args.opId);
      if (prior) return prior.args === key ? JSON.parse(prior.result) : fail("operation_id_reused", `Operation ${args.opId} was used with other arguments`);
      const r = body(args);
      this.store.saveOp(args.opId, kind, key, r);
      return r;
    });
    if (result.ok) {
      await this.scheduleAlarm(Date.now() + MIRROR_DELAY_MS);
      if (alarmFor) await this.scheduleAlarm(alarmFor(args));
    }
    return result;
  }

  /** One SQLite transaction; the in-memory balance is restored if anything throws. */
  private transact<R>(fn: () => R): R {
    this.buckets.begin();
    try {
      return this.ctx.storage.transactionSync(() => {
        const r = fn();
        const problem = this.buckets.problem();
        if (problem) throw new Error(`FundingPool invariant violated: ${problem}`);
        this.store.appendJournal(this.buckets.journal);
        this.store.saveBalance(this.balance);
        return r;
      });
    } catch (err) {
      this.buckets.rollback();
      throw err;
    } finally {
      this.buckets.end();
    }
  }

  private async scheduleAlarm(at: number): Promise<void> {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  private ok<T extends object>(extra: T): { ok: true; balance: Balance; currency: string } & T {
    return { ok: true, balance: { ...this.balance }, currency: this.meta?.currency ?? "", ...extra };
  }
}
