import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CardOp, StoredValueCard } from "../durable-objects/stored-value-card";
import type { CardResult, CardSeed, CardState } from "../durable-objects/card-types";
import { CardModel, type MResult } from "./helpers/card-model";

// 1,000 random sequences in the normal run; CARD_PROPERTY_RUNS=20000 for a long one. A failure prints
// its seed and path; CARD_PROPERTY_SEED / CARD_PROPERTY_PATH replay exactly that case.
const RUNS = Number(env.CARD_PROPERTY_RUNS || 1000);
const SEED = env.CARD_PROPERTY_SEED ? Number(env.CARD_PROPERTY_SEED) : undefined;
const PATH = env.CARD_PROPERTY_PATH || undefined;

type Stub = DurableObjectStub<StoredValueCard>;
interface Real {
  stub: Stub;
  seed: CardSeed;
  now: number;
  opSeq: number;
  ids: string[];
  history: { op: CardOp; input: Record<string, unknown>; first: MResult }[];
}
interface Model {
  card: CardModel;
}

const amount = fc.integer({ min: 1, max: 30 }).map((n) => n * 100);
const REFS = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"];

/** The DO's answer in the model's terms: ok with the amount that matters for the operation, or the refusal code. */
function normalise(op: CardOp, r: CardResult): MResult {
  if (!r.ok) return { ok: false, code: r.code };
  const x = r as CardResult & Record<string, unknown>;
  const red = x.redemption as { amount: number; status: string } | undefined;
  if (op === "redeem") return { ok: true, value: red!.amount, status: red!.status };
  if (op === "capture") return { ok: true, value: red!.amount };
  if (op === "refund") return { ok: true, value: x.refunded as number };
  if (op === "reverse") return { ok: true, value: x.reversed as number };
  return { ok: true };
}

function expectSame(state: CardState, model: CardModel) {
  expect(state.balance).toEqual(model.balance());
  expect(state.status).toBe(model.status());
  expect(state.buckets.map((b) => [b.kind, b.remaining, b.pending, b.state])).toEqual(
    model.buckets.map((b) => [b.kind, b.remaining, b.held, b.ended ?? "active"]),
  );
  const b = state.balance;
  expect(b.issued + b.credited).toBe(b.available + b.pending + b.redeemed + b.expired + b.reversed);
}

async function check(real: Real, model: Model) {
  expectSame(await real.stub.settle(real.seed, real.now), model.card);
}

/** One card operation at the current (virtual) time, with a fresh operation id that later steps may replay. */
class OpCommand implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly label: string,
    readonly op: CardOp,
    readonly input: (real: Real) => Record<string, unknown> | null,
    readonly onModel: (m: CardModel) => MResult,
  ) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const input = this.input(real);
    if (!input) return;
    model.card.tick(real.now);
    const expected = this.onModel(model.card);
    const args = { ...input, opId: `op-${real.opSeq++}`, actor: "test" };
    const result = await real.stub.run(real.seed, this.op, args, real.now);
    expect(normalise(this.op, result)).toEqual(expected);
    if (this.op === "redeem" && result.ok) real.ids.push((result as unknown as { redemption: { id: string } }).redemption.id);
    real.history.push({ op: this.op, input: args, first: expected });
    await check(real, model);
  }
  toString = () => this.label;
}

class TickCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(model: Model, real: Real) {
    real.now += this.ms;
    model.card.tick(real.now);
    await check(real, model);
  }
  toString = () => `tick(${this.ms})`;
}

class ReplayCommand implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly index: number,
    readonly tweak: boolean,
  ) {}
  check = () => true;
  async run(model: Model, real: Real) {
    if (real.history.length === 0) return;
    const prior = real.history[this.index % real.history.length]!;
    model.card.tick(real.now);
    const result = await real.stub.run(real.seed, prior.op, { ...prior.input, ...(this.tweak ? { actor: "someone-else" } : {}) }, real.now);
    // A reversal is one per operation id whoever asks (support's reverse and reissue share it): other actors replay it too.
    const reused = this.tweak && prior.op !== "reverse";
    expect(normalise(prior.op, result)).toEqual(reused ? { ok: false, code: "operation_id_reused" } : prior.first);
    await check(real, model);
  }
  toString = () => `replay(${this.index}${this.tweak ? ", other args" : ""})`;
}

const pick = (real: Real, i: number) => (real.ids.length ? real.ids[i % real.ids.length]! : null);
const pickModel = (m: CardModel, i: number) => i % Math.max(1, m.redemptions.length);

const commands = [
  fc
    .record({ a: amount, ref: fc.constantFrom(...REFS), capture: fc.boolean(), hold: fc.constantFrom(1, 5, 30), partial: fc.boolean(), eur: fc.nat(20) })
    .map(({ a, ref, capture, hold, partial, eur }) => {
      const currency = eur === 0 ? "EUR" : "USD";
      return new OpCommand(
        `redeem(${a}, ${ref}, ${capture ? "capture" : `hold ${hold}s`}${partial ? ", partial" : ""}${eur === 0 ? ", EUR" : ""})`,
        "redeem",
        (real) => ({ amount: a, currency, reference: ref, capture, holdExpiresAt: capture ? null : real.now + hold * 1000, allowPartial: partial }),
        (m) => m.redeem(a, currency, ref, capture, capture ? null : m.now + hold * 1000, partial),
      );
    }),
  fc.tuple(fc.nat(), fc.option(amount)).map(
    ([i, a]) =>
      new OpCommand(
        `capture(#${i}${a ? `, ${a}` : ""})`,
        "capture",
        (real) => (pick(real, i) ? { redemptionId: pick(real, i), ...(a ? { amount: a } : {}) } : null),
        (m) => m.capture(pickModel(m, i), a ?? undefined),
      ),
  ),
  fc.nat().map(
    (i) =>
      new OpCommand(
        `void(#${i})`,
        "void",
        (real) => (pick(real, i) ? { redemptionId: pick(real, i) } : null),
        (m) => m.void(pickModel(m, i)),
      ),
  ),
  fc.tuple(fc.nat(), fc.option(amount)).map(
    ([i, a]) =>
      new OpCommand(
        `refund(#${i}${a ? `, ${a}` : ""})`,
        "refund",
        (real) => (pick(real, i) ? { redemptionId: pick(real, i), ...(a ? { amount: a } : {}) } : null),
        (m) => m.refund(pickModel(m, i), a ?? undefined),
      ),
  ),
  fc.tuple(amount, fc.option(fc.constantFrom(1_000, 5_000, 30_000, 120_000))).map(([a, inMs]) => {
    const creditId = crypto.randomUUID();
    return new OpCommand(
      `credit(${a}${inMs ? `, expires in ${inMs}ms` : ""})`,
      "credit",
      (real) => ({ creditId, amount: a, poolId: "pool_model", expiresAt: inMs ? real.now + inMs : null, reason: "bonus" }),
      (m) => m.credit(a, inMs ? m.now + inMs : null),
    );
  }),
  fc.boolean().map(
    (f) =>
      new OpCommand(
        f ? "freeze" : "unfreeze",
        f ? "freeze" : "unfreeze",
        () => ({}),
        (m) => m.setFrozen(f),
      ),
  ),
  fc.nat(10).map(
    (n) =>
      new OpCommand(
        "reverse",
        "reverse",
        () => (n === 0 ? { reference: "reversal" } : null),
        (m) => (n === 0 ? m.reverse() : { ok: true }),
      ),
  ),
  fc.constantFrom(0, 500, 1_000, 5_000, 20_000, 60_000).map((ms) => new TickCommand(ms)),
  fc.tuple(fc.nat(), fc.boolean()).map(([i, t]) => new ReplayCommand(i, t)),
];

describe("StoredValueCard against a plain model", () => {
  it(`matches the model and keeps issued + credited = available + pending + redeemed + expired + reversed over ${RUNS} random sequences`, async () => {
    let cards = 0;
    // Virtual time far ahead of the wall clock: no alarm set for it fires while a sequence runs.
    const start = Date.now() + 10 * 365 * 86_400_000;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 5, max: 50 }).map((n) => n * 100),
        fc.option(fc.constantFrom(10_000, 40_000, 90_000)),
        fc.commands(commands, { maxCommands: 25 }),
        async (initial, expiresIn, cmds) => {
          const cardId = `card_model${cards++}${crypto.randomUUID().slice(0, 8)}`;
          const stub = env.STORED_VALUE_CARD.get(env.STORED_VALUE_CARD.idFromName(cardId));
          const seed: CardSeed = {
            cardId,
            org: `model-${cardId}`,
            currency: "USD",
            initialAmount: initial,
            expiresAt: expiresIn ? start + expiresIn : null,
            createdAt: start,
            voided: false,
          };
          try {
            await fc.asyncModelRun(
              () => ({ model: { card: new CardModel(initial, seed.expiresAt, start) }, real: { stub, seed, now: start, opSeq: 0, ids: [], history: [] } }),
              cmds,
            );
            expect(await stub.checkIntegrity()).toEqual({ ok: true, problem: null });
          } finally {
            await evictDurableObject(stub).catch(() => {});
          }
        },
      ),
      { numRuns: RUNS, seed: SEED, path: PATH, verbose: 1 },
    );
  }, 900_000);
});
