/**
 * A plain in-memory model of a stored-value card, the reference the StoredValueCard DO is checked
 * against in the property test. It follows the rules in words (README "Stored-value cards"), not
 * the DO's code: spend earliest-expiring value first; never below zero; holds end exactly once;
 * refunds go back to their bucket unless it has ended; expired value is gone; reversal takes all
 * that is unspent.
 */
import type { CardBalance, CardErrorCode, CardStatus } from "../../durable-objects/card-types";

interface MBucket {
  kind: "base" | "bonus";
  amount: number;
  remaining: number;
  held: number;
  spent: number;
  expired: number;
  reversed: number;
  expiresAt: number | null;
  ended: null | "expired" | "reversed";
}
interface MPart {
  b: number;
  held: number;
  captured: number;
  refunded: number;
}
export interface MRedemption {
  reference: string;
  status: "pending" | "captured" | "voided" | "expired" | "refunded";
  amount: number;
  captured: number;
  refunded: number;
  holdExpiresAt: number | null;
  parts: MPart[];
}
export type MResult = { ok: true; value?: number; status?: string } | { ok: false; code: CardErrorCode };

export class CardModel {
  buckets: MBucket[];
  redemptions: MRedemption[] = [];
  frozen = false;
  reversed = false;

  constructor(
    initial: number,
    readonly expiresAt: number | null,
    public now: number,
  ) {
    this.buckets = [{ kind: "base", amount: initial, remaining: initial, held: 0, spent: 0, expired: 0, reversed: 0, expiresAt, ended: null }];
  }

  balance(): CardBalance {
    const sum = (f: (b: MBucket) => number) => this.buckets.reduce((s, b) => s + f(b), 0);
    return {
      available: sum((b) => b.remaining),
      pending: sum((b) => b.held),
      redeemed: sum((b) => b.spent),
      expired: sum((b) => b.expired),
      reversed: sum((b) => b.reversed),
      issued: sum((b) => (b.kind === "base" ? b.amount : 0)),
      credited: sum((b) => (b.kind === "bonus" ? b.amount : 0)),
    };
  }

  status(): CardStatus {
    if (this.reversed) return "reversed";
    if (this.expiresAt !== null && this.expiresAt <= this.now) return "expired";
    if (this.frozen) return "frozen";
    const b = this.balance();
    return b.available === 0 && b.pending === 0 ? "exhausted" : "active";
  }

  /** What the clock has ended by now: buckets past their expiry lose what is spendable, holds past theirs come back. */
  tick(now: number): void {
    this.now = now;
    for (const b of this.buckets) {
      if (!b.ended && b.expiresAt !== null && b.expiresAt <= now) {
        b.expired += b.remaining;
        b.remaining = 0;
        b.ended = "expired";
      }
    }
    for (const r of this.redemptions) if (r.status === "pending" && r.holdExpiresAt! <= now) this.release(r, "expired");
  }

  private back(b: MBucket, amount: number) {
    if (b.ended === "expired") b.expired += amount;
    else if (b.ended === "reversed") b.reversed += amount;
    else b.remaining += amount;
  }

  private release(r: MRedemption, status: "voided" | "expired") {
    for (const p of r.parts) {
      const b = this.buckets[p.b]!;
      b.held -= p.held;
      this.back(b, p.held);
      p.held = 0;
    }
    r.status = status;
  }

  redeem(amount: number, currency: string, reference: string, capture: boolean, holdExpiresAt: number | null, allowPartial: boolean): MResult {
    if (currency !== "USD") return { ok: false, code: "currency_mismatch" };
    const s = this.status();
    if (s === "reversed") return { ok: false, code: "card_reversed" };
    if (s === "expired") return { ok: false, code: "card_expired" };
    if (s === "frozen") return { ok: false, code: "card_frozen" };
    if (this.redemptions.some((r) => r.reference === reference)) return { ok: false, code: "duplicate_reference" };
    const available = this.balance().available;
    const take = allowPartial ? Math.min(amount, available) : amount;
    if (take === 0 || take > available) return { ok: false, code: "insufficient_balance" };
    const order = this.buckets
      .map((_, i) => i)
      .filter((i) => !this.buckets[i]!.ended && this.buckets[i]!.remaining > 0)
      .sort((x, y) => (this.buckets[x]!.expiresAt ?? Infinity) - (this.buckets[y]!.expiresAt ?? Infinity) || x - y);
    const r: MRedemption = {
      reference,
      status: capture ? "captured" : "pending",
      amount: take,
      captured: capture ? take : 0,
      refunded: 0,
      holdExpiresAt: capture ? null : holdExpiresAt,
      parts: [],
    };
    let rest = take;
    for (const i of order) {
      const b = this.buckets[i]!;
      const t = Math.min(b.remaining, rest);
      if (t === 0) break;
      b.remaining -= t;
      if (capture) b.spent += t;
      else b.held += t;
      r.parts.push({ b: i, held: capture ? 0 : t, captured: capture ? t : 0, refunded: 0 });
      rest -= t;
    }
    this.redemptions.push(r);
    return { ok: true, value: take, status: r.status };
  }

  capture(index: number, amount?: number): MResult {
    const r = this.redemptions[index]!;
    if (r.status !== "pending") return { ok: false, code: "redemption_not_pending" };
    if (this.reversed) return { ok: false, code: "card_reversed" };
    if (this.frozen) return { ok: false, code: "card_frozen" };
    const want = amount ?? r.amount;
    if (want > r.amount) return { ok: false, code: "invalid_amount" };
    let rest = want;
    for (const p of r.parts) {
      const b = this.buckets[p.b]!;
      const t = Math.min(p.held, rest);
      b.held -= p.held;
      b.spent += t;
      p.captured += t;
      this.back(b, p.held - t);
      p.held = 0;
      rest -= t;
    }
    Object.assign(r, { status: "captured", amount: want, captured: want });
    return { ok: true, value: want };
  }

  void(index: number): MResult {
    const r = this.redemptions[index]!;
    if (r.status !== "pending") return { ok: false, code: "redemption_not_pending" };
    this.release(r, "voided");
    return { ok: true };
  }

  refund(index: number, amount?: number): MResult {
    const r = this.redemptions[index]!;
    if (r.status !== "captured") return { ok: false, code: "redemption_not_captured" };
    if (this.reversed) return { ok: false, code: "card_reversed" };
    const left = r.captured - r.refunded;
    const want = amount ?? left;
    if (want > left) return { ok: false, code: "invalid_amount" };
    let rest = want;
    for (const p of [...r.parts].reverse()) {
      const t = Math.min(p.captured - p.refunded, rest);
      const b = this.buckets[p.b]!;
      b.spent -= t;
      this.back(b, t);
      p.refunded += t;
      rest -= t;
    }
    r.refunded += want;
    if (r.refunded === r.captured) r.status = "refunded";
    return { ok: true, value: want };
  }

  credit(amount: number, expiresAt: number | null): MResult {
    const s = this.status();
    if (s === "reversed") return { ok: false, code: "card_reversed" };
    if (s === "expired") return { ok: false, code: "card_expired" };
    const end = expiresAt === null ? this.expiresAt : this.expiresAt === null ? expiresAt : Math.min(expiresAt, this.expiresAt);
    this.buckets.push({ kind: "bonus", amount, remaining: amount, held: 0, spent: 0, expired: 0, reversed: 0, expiresAt: end, ended: null });
    return { ok: true };
  }

  setFrozen(frozen: boolean): MResult {
    if (this.reversed) return { ok: false, code: "card_reversed" };
    if (this.status() === "expired") return { ok: false, code: "card_expired" };
    this.frozen = frozen;
    return { ok: true };
  }

  reverse(): MResult {
    if (this.reversed) return { ok: true, value: 0 };
    const before = this.balance().reversed;
    for (const r of this.redemptions) if (r.status === "pending") this.release(r, "voided");
    for (const b of this.buckets) {
      b.reversed += b.remaining;
      b.remaining = 0;
      if (!b.ended) b.ended = "reversed";
    }
    this.reversed = true;
    return { ok: true, value: this.balance().reversed - before };
  }
}
