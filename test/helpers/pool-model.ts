/**
 * A small pure model of a funding pool, the reference the real FundingPool DO is checked against
 * in the property tests. It mirrors the rules of DESIGN.md "Money", nothing more.
 */
import type { Balance, PoolErrorCode } from "../../durable-objects/pool-types";

export interface ModelHold {
  remaining: number;
  committed: number;
  state: "pending" | "posted" | "released" | "expired";
}
export type ModelResult = { ok: true } | { ok: false; code: PoolErrorCode };

export class PoolModel {
  balance: Balance = { available: 0, reserved: 0, committed: 0, funded: 0, released: 0, reversed: 0, withdrawn: 0 };
  holds = new Map<string, ModelHold>();
  items = new Map<string, { hold: string; amount: number; state: "committed" | "reversed" | "refunded" }>();

  fund(amount: number): ModelResult {
    this.balance.available += amount;
    this.balance.funded += amount;
    return { ok: true };
  }

  withdraw(amount: number): ModelResult {
    if (amount > this.balance.available) return { ok: false, code: "insufficient_funds" };
    this.balance.available -= amount;
    this.balance.withdrawn += amount;
    return { ok: true };
  }

  reserve(holdId: string, amount: number): ModelResult {
    if (this.holds.has(holdId)) return { ok: false, code: "hold_exists" };
    if (amount > this.balance.available) return { ok: false, code: "insufficient_funds" };
    this.holds.set(holdId, { remaining: amount, committed: 0, state: "pending" });
    this.balance.available -= amount;
    this.balance.reserved += amount;
    return { ok: true };
  }

  /** Per item: its status, and for a rejected item the reason code. */
  commit(holdId: string, items: { id: string; amount: number }[]): ModelResult & { items?: string[] } {
    const hold = this.holds.get(holdId);
    if (!hold) return { ok: false, code: "hold_not_found" };
    const statuses = items.map(({ id, amount }): string => {
      const prior = this.items.get(id);
      if (prior && prior.state !== "refunded") return prior.hold !== holdId || prior.amount !== amount ? "rejected:operation_id_reused" : "already_committed";
      if (hold.state !== "pending") return "rejected:hold_not_active";
      if (amount > hold.remaining) return "rejected:insufficient_funds";
      hold.remaining -= amount;
      hold.committed += amount;
      this.items.set(id, { hold: holdId, amount, state: "committed" });
      this.balance.reserved -= amount;
      this.balance.committed += amount;
      return "committed";
    });
    return { ok: true, items: statuses };
  }

  release(holdId: string, amount: number | "rest"): ModelResult {
    const hold = this.holds.get(holdId);
    if (!hold) return { ok: false, code: "hold_not_found" };
    if (hold.state !== "pending") return amount === "rest" ? { ok: true } : { ok: false, code: "hold_not_active" };
    const value = amount === "rest" ? hold.remaining : amount;
    if (value > hold.remaining) return { ok: false, code: "insufficient_funds" };
    this.returnFromHold(hold, value, hold.committed > 0 ? "posted" : "released", amount === "rest");
    return { ok: true };
  }

  expire(holdId: string): void {
    const hold = this.holds.get(holdId);
    if (hold?.state === "pending") this.returnFromHold(hold, hold.remaining, "expired", true);
  }

  reverse(itemId: string): ModelResult {
    const item = this.items.get(itemId);
    if (!item) return { ok: false, code: "item_not_found" };
    if (item.state !== "committed") return { ok: false, code: "item_not_committed" };
    item.state = "reversed";
    this.balance.committed -= item.amount;
    this.balance.available += item.amount;
    this.balance.reversed += item.amount;
    return { ok: true };
  }

  refund(itemId: string): ModelResult {
    const item = this.items.get(itemId);
    if (!item) return { ok: false, code: "item_not_found" };
    if (item.state !== "committed") return { ok: false, code: "item_not_committed" };
    item.state = "refunded";
    const hold = this.holds.get(item.hold)!;
    this.balance.committed -= item.amount;
    if (hold.state === "pending") {
      hold.remaining += item.amount;
      hold.committed -= item.amount;
      this.balance.reserved += item.amount;
    } else {
      this.balance.available += item.amount;
      this.balance.released += item.amount;
    }
    return { ok: true };
  }

  private returnFromHold(hold: ModelHold, value: number, doneState: ModelHold["state"], close: boolean): void {
    hold.remaining -= value;
    if (close || hold.remaining === 0) hold.state = doneState;
    this.balance.reserved -= value;
    this.balance.available += value;
    this.balance.released += value;
  }
}
