import { DurableObject } from "cloudflare:workers";
import type { z } from "zod";
import type { Env } from "../src/env";
import { capture, redeem, refund, voidHold } from "./card-checkout";
import { CardLedger } from "./card-ledger";
import { mirrorCard } from "./card-mirror";
import { CardStore } from "./card-store";
import {
  CaptureArgs,
  CardSeed,
  CreditArgs,
  FlagArgs,
  RedeemArgs,
  RefundArgs,
  ReverseArgs,
  VoidArgs,
  fail,
  type CaptureInput,
  type CardResult,
  type CardState,
  type CardTxn,
  type CreditInput,
  type FlagInput,
  type RedeemInput,
  type Redemption,
  type RefundInput,
  type ReverseInput,
  type ReversedPart,
  type VoidInput,
} from "./card-types";

/** A failed D1 mirror write is retried by the alarm this much later. */
const MIRROR_RETRY_MS = 5_000;

export type CardOp = "redeem" | "capture" | "void" | "refund" | "credit" | "freeze" | "unfreeze" | "reverse";
const SCHEMAS = {
  redeem: RedeemArgs,
  capture: CaptureArgs,
  void: VoidArgs,
  refund: RefundArgs,
  credit: CreditArgs,
  freeze: FlagArgs,
  unfreeze: FlagArgs,
  reverse: ReverseArgs,
} as const;

export interface CardDetail {
  card: CardState;
  transactions: CardTxn[];
}

/**
 * One SQLite-backed Durable Object per stored-value card: the authority for its balance. The DO
 * serialises every operation on the card and each one reads, checks and writes inside one
 * `transactionSync`, so two redemptions can never both spend the same value. Operations are
 * idempotent by the caller's operation id (a replay answers the first result). The card
 * initialises itself on first use from its D1 row (`CardSeed`), so issuance costs no DO call.
 * Expiries (buckets, pending holds) are applied before every operation and by the alarm, each
 * exactly once; after every change the D1 mirror (card row, redemptions, audit) is written.
 */
export class StoredValueCard extends DurableObject<Env> {
  private readonly store: CardStore;
  private flushing: Promise<void> = Promise.resolve();
  private alarmAt: number | null = null;
  /** Whether the store's mirror watermark is D1's (card-mirror.ts): not yet for an object that has just started. */
  private watermarkKnown = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new CardStore(ctx.storage);
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  redeem(seed: CardSeed, input: RedeemInput): Promise<CardResult<{ redemption: Redemption }>> {
    return this.run(seed, "redeem", input, Date.now()) as Promise<CardResult<{ redemption: Redemption }>>;
  }
  capture(seed: CardSeed, input: CaptureInput): Promise<CardResult<{ redemption: Redemption }>> {
    return this.run(seed, "capture", input, Date.now()) as Promise<CardResult<{ redemption: Redemption }>>;
  }
  void(seed: CardSeed, input: VoidInput): Promise<CardResult<{ redemption: Redemption }>> {
    return this.run(seed, "void", input, Date.now()) as Promise<CardResult<{ redemption: Redemption }>>;
  }
  refund(seed: CardSeed, input: RefundInput): Promise<CardResult<{ redemption: Redemption; refunded: number; to_expired: number }>> {
    return this.run(seed, "refund", input, Date.now()) as Promise<CardResult<{ redemption: Redemption; refunded: number; to_expired: number }>>;
  }
  credit(seed: CardSeed, input: CreditInput): Promise<CardResult<{ bucket_id: string }>> {
    return this.run(seed, "credit", input, Date.now()) as Promise<CardResult<{ bucket_id: string }>>;
  }
  freeze(seed: CardSeed, input: FlagInput): Promise<CardResult> {
    return this.run(seed, "freeze", input, Date.now());
  }
  unfreeze(seed: CardSeed, input: FlagInput): Promise<CardResult> {
    return this.run(seed, "unfreeze", input, Date.now());
  }
  reverse(seed: CardSeed, input: ReverseInput): Promise<CardResult<{ reversed: number; parts: ReversedPart[] }>> {
    return this.run(seed, "reverse", input, Date.now()) as Promise<CardResult<{ reversed: number; parts: ReversedPart[] }>>;
  }

  /** The card now (due expiries applied) and its latest transactions. */
  async detail(seed: CardSeed, recent = 20): Promise<CardDetail> {
    const card = await this.settle(seed, Date.now());
    return { card, transactions: this.store.txns(recent) };
  }

  /** Applies due expiries (the expiry cron calls this for cards nobody touched); harmless to repeat. */
  async expire(seed: CardSeed): Promise<CardState> {
    return this.settle(seed, Date.now());
  }

  /** Transactions newest first, before `beforeSeq`. */
  async transactions(seed: CardSeed, limit: number, beforeSeq?: number): Promise<CardTxn[]> {
    await this.settle(seed, Date.now());
    return this.store.txns(limit, beforeSeq);
  }

  /** Redemptions of the card by id, straight from the authority (the D1 mirror may lag a failed write). */
  redemption(id: string): Redemption | null {
    return this.store.redemption(id);
  }

  /** Cross-checks the ledger: buckets and holds, and the hash chain recomputed from the start (tests). */
  checkIntegrity(): { ok: boolean; problem: string | null } {
    if (!this.store.meta()) return { ok: true, problem: null };
    const broken = this.store.brokenChainAt();
    const problem = new CardLedger(this.store, Date.now()).problem() ?? (broken === null ? null : `the hash chain breaks at transaction ${broken}`);
    return { ok: problem === null, problem };
  }

  /**
   * What reconciliation compares with the D1 mirror: the state and chain head at the latest
   * transaction, and whether the chain recomputes. Null for a card nobody has touched yet.
   */
  ledgerHead(): { seq: number; head_hash: string | null; balance: CardState["balance"]; status: CardState["status"]; chain_ok: boolean } | null {
    const meta = this.store.meta();
    if (!meta) return null;
    const state = new CardLedger(this.store, Date.now()).state();
    return { seq: meta.seq, head_hash: meta.head_hash, balance: state.balance, status: state.status, chain_ok: this.store.brokenChainAt() === null };
  }

  /** Writes what the D1 mirror lacks now (the operations do it too). */
  async syncMirror(): Promise<void> {
    await this.flush();
  }

  /**
   * Runs one operation at `now`. The public methods pass the clock; tests drive it (model test).
   * Replays by operation id answer the first result; the same id with other arguments is refused.
   */
  async run(seed: CardSeed, op: CardOp, input: unknown, now: number): Promise<CardResult> {
    const parsedSeed = CardSeed.safeParse(seed);
    const parsed = SCHEMAS[op].safeParse(input);
    if (!parsedSeed.success || !parsed.success) {
      const issues = [...(parsedSeed.error?.issues ?? []), ...(parsed.error?.issues ?? [])];
      return fail("invalid_argument", issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
    }
    const args = parsed.data as { opId: string };
    // A reversal is one per operation id whoever asks and why (support's reverse and reissue of a
    // delivery share it): a second caller replays the first one's result instead of being refused.
    const key = JSON.stringify(op === "reverse" ? { op, opId: args.opId } : { op, ...args });
    const result = this.store.transaction((): CardResult => {
      const ledger = this.open(parsedSeed.data, now);
      const prior = this.store.findOp(args.opId);
      if (prior) {
        ledger.save();
        if (prior.args !== key) return fail("operation_id_reused", `Operation ${args.opId} was used with other arguments`);
        return { ...(JSON.parse(prior.result) as object), card: ledger.state() } as CardResult;
      }
      const r = apply(ledger, op, parsed.data);
      ledger.save();
      const out = r.ok ? { ...r, card: ledger.state() } : r;
      this.store.saveOp(args.opId, key, out.ok ? { ...out, card: undefined } : out);
      return out as CardResult;
    });
    await this.after();
    return result;
  }

  /** Due expiries at `now`, saved; the card's state. */
  async settle(seed: CardSeed, now: number): Promise<CardState> {
    const state = this.store.transaction(() => {
      const ledger = this.open(CardSeed.parse(seed), now);
      ledger.save();
      return ledger.state();
    });
    await this.after();
    return state;
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const meta = this.store.meta();
    if (!meta) return;
    this.store.transaction(() => {
      const ledger = new CardLedger(this.store, Date.now());
      ledger.expireDue();
      ledger.save();
    });
    await this.after();
  }

  /** Loads the card (initialising it from the seed on first use) and applies what has expired by `now`. */
  private open(seed: CardSeed, now: number): CardLedger {
    if (!this.store.meta()) CardLedger.init(this.store, seed);
    const ledger = new CardLedger(this.store, now);
    // D1 voided the card (a reissue) after its ledger began: it ends here too.
    if (seed.voided && !ledger.meta.reversed)
      ledger.reverse({ opId: `reverse:void:${seed.cardId}`, actor: "system:reissue", reference: "the card was voided" });
    ledger.expireDue();
    return ledger;
  }

  /** Mirror to D1, then set the alarm for the next expiry (or a mirror retry). */
  private async after(): Promise<void> {
    let mirrored = true;
    try {
      await this.flush();
    } catch (err) {
      mirrored = false;
      console.error(JSON.stringify({ durable_object: "StoredValueCard", error: String(err) }));
    }
    // Read the state and set the alarm with no await in between: a concurrent operation that adds an
    // earlier expiry computes after this one and its call lands last.
    const next = this.store.meta() ? new CardLedger(this.store, Date.now()).nextExpiry() : null;
    const at = mirrored ? next : Math.min(next ?? Infinity, Date.now() + MIRROR_RETRY_MS);
    const wanted = at === null || at === Infinity ? null : at;
    if (wanted === this.alarmAt) return;
    this.alarmAt = wanted;
    await (wanted === null ? this.ctx.storage.deleteAlarm() : this.ctx.storage.setAlarm(wanted));
  }

  /**
   * One drain at a time. The watermark stored here may lag D1 after the object starts (it is persisted
   * lazily): the first drain's trail row is conditional, and only if D1 already had part of the page
   * does it ask D1 how far its trail goes (card-mirror.ts), so nothing is sent twice.
   */
  private flush(): Promise<void> {
    const run = this.flushing
      .catch(() => undefined)
      .then(async () => {
        const meta = this.store.meta();
        if (!meta || meta.seq <= meta.mirrored_seq) return;
        this.watermarkKnown = await mirrorCard(this.env.DB, this.store, () => new CardLedger(this.store, Date.now()).state(), this.watermarkKnown);
      });
    this.flushing = run;
    return run;
  }
}

function apply(ledger: CardLedger, op: CardOp, a: z.infer<(typeof SCHEMAS)[CardOp]>) {
  switch (op) {
    case "redeem":
      return redeem(ledger, a as z.infer<typeof RedeemArgs>);
    case "capture":
      return capture(ledger, a as z.infer<typeof CaptureArgs>);
    case "void":
      return voidHold(ledger, a as z.infer<typeof VoidArgs>);
    case "refund":
      return refund(ledger, a as z.infer<typeof RefundArgs>);
    case "credit":
      return ledger.credit(a as z.infer<typeof CreditArgs>);
    case "freeze":
      return ledger.setFrozen(a as z.infer<typeof FlagArgs>, true);
    case "unfreeze":
      return ledger.setFrozen(a as z.infer<typeof FlagArgs>, false);
    case "reverse":
      return ledger.reverse(a as z.infer<typeof ReverseArgs>);
  }
}
