/**
 * The rules of one card's ledger, run inside the DO's `transactionSync`: load the card, apply due
 * expiries, check, move value between buckets, record a transaction (balance before and after) for
 * every change, save. Time is an argument (`now`), so tests can drive the clock.
 *
 * Value in a bucket is `remaining` (spendable), `held` (in pending redemptions), `spent` (captured,
 * net of refunds), `expired` or `reversed`; amount = their sum. Spending takes the earliest-expiring
 * value first (no expiry last, then oldest bucket). Value that comes back (void, hold expiry,
 * refund) returns to its own bucket, or to that bucket's `expired`/`reversed` when it has ended.
 * Checkout (redeem, capture, void, refund) is in card-checkout.ts, on the helpers below.
 */
import type { CardMeta, CardStore } from "./card-store";
import {
  fail,
  type Bucket,
  type CardBalance,
  type CardFailure,
  type CardSeed,
  type CardState,
  type CardStatus,
  type Redemption,
  type ReversedPart,
  type TxnKind,
} from "./card-types";
import type { z } from "zod";
import type { CreditArgs, FlagArgs, ReverseArgs } from "./card-types";

export interface Ctx {
  opId: string;
  actor: string;
  reference?: string | null;
  redemptionId?: string | null;
  bucketId?: string | null;
}
export type Ok<T extends object = object> = { ok: true } & T;

/** Earliest expiry first, no expiry last, then the oldest bucket. */
export const spendOrder = (a: Bucket, b: Bucket) => (a.expires_at ?? Infinity) - (b.expires_at ?? Infinity) || a.ord - b.ord;

export class CardLedger {
  readonly meta: CardMeta;
  readonly buckets: Bucket[];

  private readonly loadedSeq: number;

  constructor(
    readonly store: CardStore,
    readonly now: number,
  ) {
    const meta = store.meta();
    if (!meta) throw new Error("CardLedger: the card is not initialised");
    this.meta = meta;
    this.loadedSeq = meta.seq;
    this.buckets = store.buckets();
  }

  /** Creates the card from its D1 row, with its issue (and, for a voided row, reversal) transaction. */
  static init(store: CardStore, seed: CardSeed): void {
    store.insertMeta({
      card_id: seed.cardId,
      org: seed.org,
      currency: seed.currency,
      expires_at: seed.expiresAt,
      frozen: 0,
      reversed: 0,
      created_at: seed.createdAt,
    });
    // The issue transaction is dated when the card was issued, not when its ledger first woke up.
    const ledger = new CardLedger(store, seed.createdAt);
    ledger.record("issue", seed.initialAmount, { opId: `issue:${seed.cardId}`, actor: "system:issuance", bucketId: "base" }, () => {
      ledger.buckets.push(newBucket("base", 0, "base", seed.initialAmount, seed.expiresAt, null, null, seed.createdAt));
    });
    ledger.save();
  }

  balance(): CardBalance {
    const b: CardBalance = { available: 0, pending: 0, redeemed: 0, expired: 0, reversed: 0, issued: 0, credited: 0 };
    for (const k of this.buckets) {
      b.available += k.remaining;
      b.pending += k.held;
      b.redeemed += k.spent;
      b.expired += k.expired;
      b.reversed += k.reversed;
      if (k.kind === "base") b.issued += k.amount;
      else b.credited += k.amount;
    }
    return b;
  }

  status(): CardStatus {
    if (this.meta.reversed) return "reversed";
    if (this.meta.expires_at !== null && this.meta.expires_at <= this.now) return "expired";
    if (this.meta.frozen) return "frozen";
    const b = this.balance();
    return b.available === 0 && b.pending === 0 ? "exhausted" : "active";
  }

  state(): CardState {
    return {
      card_id: this.meta.card_id,
      org: this.meta.org,
      currency: this.meta.currency,
      status: this.status(),
      expires_at: this.meta.expires_at,
      balance: this.balance(),
      buckets: this.buckets.map((b) => ({
        id: b.bucket_id,
        kind: b.kind,
        amount: b.amount,
        remaining: b.remaining,
        pending: b.held,
        expired: b.expired,
        reversed: b.reversed,
        expires_at: b.expires_at,
        state: b.state,
        pool_id: b.pool_id,
      })),
    };
  }

  /** Expires every bucket and pending hold whose time has come, in time order; each exactly once (state-guarded). */
  expireDue(): void {
    type Due = { at: number; run: () => void };
    const due: Due[] = [];
    for (const b of this.buckets) {
      if (b.state === "active" && b.expires_at !== null && b.expires_at <= this.now) due.push({ at: b.expires_at, run: () => this.expireBucket(b) });
    }
    for (const r of this.store.pendingRedemptions()) {
      if (r.hold_expires_at !== null && r.hold_expires_at <= this.now)
        due.push({ at: r.hold_expires_at, run: () => this.endHold(r, "expired", { opId: `expire:${r.id}`, actor: "system:expiry" }) });
    }
    due.sort((a, b) => a.at - b.at);
    for (const d of due) d.run();
  }

  /** The earliest future time something expires (a bucket or a pending hold), for the alarm. */
  nextExpiry(): number | null {
    const times = [
      ...this.buckets.filter((b) => b.state === "active" && b.expires_at !== null).map((b) => b.expires_at!),
      ...this.store.pendingRedemptions().flatMap((r) => (r.hold_expires_at === null ? [] : [r.hold_expires_at])),
    ];
    return times.length ? Math.min(...times) : null;
  }

  credit(a: z.infer<typeof CreditArgs>): Ok<{ bucket_id: string }> | CardFailure {
    const refused = this.refusal(false);
    if (refused) return refused;
    if (a.expiresAt !== null && a.expiresAt <= this.now) return fail("invalid_argument", "expires_at must be in the future");
    // Bonus value never outlives the card: its expiry is capped at the card's.
    const cardEnd = this.meta.expires_at;
    const expiresAt = a.expiresAt === null ? cardEnd : cardEnd === null ? a.expiresAt : Math.min(a.expiresAt, cardEnd);
    const id = `bonus:${a.creditId}`;
    this.record("credit", a.amount, { ...a, bucketId: id, reference: a.reference ?? a.reason }, () => {
      this.buckets.push(newBucket(id, this.buckets.length, "bonus", a.amount, expiresAt, a.poolId, a.reason, this.now));
    });
    return { ok: true, bucket_id: id };
  }

  setFrozen(a: z.infer<typeof FlagArgs>, frozen: boolean): Ok | CardFailure {
    if (this.meta.reversed) return fail("card_reversed", "The card has been reversed");
    if (this.status() === "expired") return fail("card_expired", "The card has expired");
    if (Boolean(this.meta.frozen) === frozen) return { ok: true };
    this.record(frozen ? "freeze" : "unfreeze", 0, { ...a, reference: a.reason ?? null }, () => {
      this.meta.frozen = frozen ? 1 : 0;
    });
    return { ok: true };
  }

  /** Ends the card: pending holds are voided and every unspent value is reversed. Says how much, bucket by bucket. */
  reverse(a: z.infer<typeof ReverseArgs>): Ok<{ reversed: number; parts: ReversedPart[] }> | CardFailure {
    if (this.meta.reversed) return { ok: true, reversed: 0, parts: [] };
    const before = new Map(this.buckets.map((b) => [b.bucket_id, b.reversed]));
    for (const r of this.store.pendingRedemptions())
      this.endHold(r, "voided", { opId: `${a.opId}:void:${r.id}`, actor: a.actor, reference: "voided by the card's reversal" });
    this.record("reverse", 0, a, () => {
      for (const b of this.buckets) {
        b.reversed += b.remaining;
        b.remaining = 0;
        if (b.state === "active") b.state = "reversed";
      }
      this.meta.reversed = 1;
    });
    // Holds voided just above went back to their (then still active) buckets, so they are in `remaining` here.
    const parts = this.buckets
      .map((b) => ({ bucket_id: b.bucket_id, kind: b.kind, pool_id: b.pool_id, amount: b.reversed - (before.get(b.bucket_id) ?? 0) }))
      .filter((p) => p.amount > 0);
    return { ok: true, reversed: parts.reduce((s, p) => s + p.amount, 0), parts };
  }

  /** Writes the buckets and the card's flags if anything changed (transactions and redemptions are written as they happen). */
  save(): void {
    if (this.meta.seq === this.loadedSeq) return;
    this.store.saveBuckets(this.buckets);
    this.store.setFlags(this.meta.frozen, this.meta.reversed);
    const problem = this.problem();
    if (problem) throw new Error(`StoredValueCard invariant violated: ${problem}`);
  }

  /** What is wrong with the buckets, if anything (checked before every commit). */
  problem(): string | null {
    for (const b of this.buckets) {
      const parts = [b.remaining, b.held, b.spent, b.expired, b.reversed];
      if (parts.some((v) => v < 0 || !Number.isSafeInteger(v))) return `bucket ${b.bucket_id} has a negative part: ${JSON.stringify(b)}`;
      if (parts.reduce((s, v) => s + v, 0) !== b.amount) return `bucket ${b.bucket_id} does not add up: ${JSON.stringify(b)}`;
      if (b.state !== "active" && b.remaining !== 0) return `bucket ${b.bucket_id} is ${b.state} with ${b.remaining} remaining`;
    }
    const held = this.store.pendingRedemptions().reduce((s, r) => s + r.amount, 0);
    if (held !== this.balance().pending) return `pending holds ${held} != pending ${this.balance().pending}`;
    return null;
  }

  refusal(spending: boolean): CardFailure | null {
    const status = this.status();
    if (status === "reversed") return fail("card_reversed", "The card has been reversed");
    if (status === "expired") return fail("card_expired", "The card has expired");
    if (status === "frozen" && spending) return fail("card_frozen", "The card is frozen");
    return null;
  }

  bucket(id: string): Bucket {
    const b = this.buckets.find((k) => k.bucket_id === id);
    if (!b) throw new Error(`StoredValueCard: no bucket ${id}`);
    return b;
  }

  private expireBucket(b: Bucket): void {
    this.record("expire", b.remaining, { opId: `expire:${b.bucket_id}`, actor: "system:expiry", bucketId: b.bucket_id }, () => {
      b.expired += b.remaining;
      b.remaining = 0;
      b.state = "expired";
    });
  }

  /** A pending hold ends without capture (void or expiry): its value goes back where it came from. */
  endHold(r: Redemption, status: "voided" | "expired", c: Ctx): void {
    this.record(
      status === "voided" ? "void" : "expire",
      r.amount,
      { ...c, reference: c.reference ?? r.reference },
      () => {
        for (const p of r.parts) {
          this.giveBack(this.bucket(p.b), p.held, "held");
          p.held = 0;
        }
        r.status = status;
      },
      r,
    );
  }

  /** Moves value out of `from` back to the bucket: spendable if it is active, else where the bucket ended. */
  giveBack(b: Bucket, amount: number, from: "held" | "spent"): void {
    if (amount === 0) return;
    b[from] -= amount;
    if (b.state === "active") b.remaining += amount;
    else if (b.state === "expired") b.expired += amount;
    else b.reversed += amount;
  }

  /** Applies `change`, then records one transaction with the balance before and after (and saves the redemption). */
  record(kind: TxnKind, amount: number, c: Ctx, change: () => void, redemption?: Redemption): void {
    const before = this.balance();
    change();
    const after = this.balance();
    const seq = this.store.appendTxn({
      op_id: c.opId,
      kind,
      amount: kind === "reverse" ? after.reversed - before.reversed : amount,
      redemption_id: redemption?.id ?? c.redemptionId ?? null,
      bucket_id: c.bucketId ?? null,
      before,
      after,
      actor: c.actor,
      reference: c.reference ?? redemption?.reference ?? null,
      created_at: this.now,
    });
    this.meta.seq = seq;
    if (redemption) {
      redemption.updated_at = this.now;
      redemption.seq = seq;
      this.store.saveRedemption(redemption);
    }
  }
}

function newBucket(
  id: string,
  ord: number,
  kind: "base" | "bonus",
  amount: number,
  expiresAt: number | null,
  poolId: string | null,
  reason: string | null,
  at: number,
): Bucket {
  return {
    bucket_id: id,
    ord,
    kind,
    amount,
    remaining: amount,
    held: 0,
    spent: 0,
    expired: 0,
    reversed: 0,
    expires_at: expiresAt,
    state: "active",
    pool_id: poolId,
    reason,
    created_at: at,
  };
}
