import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Balance } from "../durable-objects/pool-types";
import { PoolModel, type ModelResult } from "./helpers/pool-model";

// 1,000 random sequences in the normal run; POOL_PROPERTY_RUNS=20000 npm test -- pools.property for a long run.
// A failure prints its seed and path; POOL_PROPERTY_SEED / POOL_PROPERTY_PATH replay exactly that case.
const RUNS = Number(env.POOL_PROPERTY_RUNS || 1000);
const SEED = env.POOL_PROPERTY_SEED ? Number(env.POOL_PROPERTY_SEED) : undefined;
const PATH = env.POOL_PROPERTY_PATH || undefined;

type Stub = DurableObjectStub<import("../durable-objects/funding-pool").FundingPool>;
interface Real {
  stub: Stub;
  opSeq: number;
  history: { opId: string; call: (opId: string, tweak: boolean) => Promise<unknown>; first: ModelResult }[];
}
interface Model {
  pool: PoolModel;
}

const HOLDS = ["h0", "h1", "h2"];
const ITEMS = ["i0", "i1", "i2", "i3", "i4", "i5"];
// Multiples of 50 make exact-boundary cases (withdraw all, commit the whole rest) common.
const amount = fc.integer({ min: 1, max: 20 }).map((n) => n * 50);
const FAR = () => Date.now() + 3_600_000;

function outcome(r: { ok: boolean; code?: string }): ModelResult {
  return r.ok ? { ok: true } : { ok: false, code: r.code as never };
}

async function checkBalance(real: Real, model: Model, got?: Balance) {
  const live = await real.stub.getBalance();
  if (!live.ok) throw new Error("pool lost its init");
  expect(live.balance).toEqual(model.pool.balance);
  if (got) expect(got).toEqual(model.pool.balance);
  const b = live.balance;
  expect(b.available + b.reserved + b.committed).toBe(b.funded - b.withdrawn);
}

/** A money operation with its own fresh operation id, remembered so later steps can replay it. */
class OpCommand implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly label: string,
    readonly onModel: (m: PoolModel) => ModelResult,
    readonly onReal: (stub: Stub, opId: string, tweak: boolean) => Promise<{ ok: boolean; code?: string; balance?: Balance }>,
  ) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const opId = `op-${real.opSeq++}`;
    const expected = this.onModel(model.pool);
    const result = await this.onReal(real.stub, opId, false);
    expect(outcome(result)).toEqual(expected);
    real.history.push({ opId, call: (id, tweak) => this.onReal(real.stub, id, tweak), first: expected });
    await checkBalance(real, model, result.ok ? result.balance : undefined);
  }
  toString = () => this.label;
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
    const result = (await prior.call(prior.opId, this.tweak)) as { ok: boolean; code?: string };
    expect(outcome(result)).toEqual(this.tweak ? { ok: false, code: "operation_id_reused" } : prior.first);
    await checkBalance(real, model);
  }
  toString = () => `replay(${this.index}${this.tweak ? ", other args" : ""})`;
}

class CommitCommand implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly hold: string,
    readonly items: { id: string; amount: number }[],
  ) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const expected = model.pool.commit(this.hold, this.items);
    const items = this.items.map(({ id, amount }) => ({ id, amount })); // plain objects for RPC
    const result = await real.stub.commit({ holdId: this.hold, items, actor: "test" });
    expect(outcome(result)).toEqual(outcome(expected));
    if (result.ok) expect(result.items.map((i) => (i.status === "rejected" ? `rejected:${i.code}` : i.status))).toEqual(expected.items);
    await checkBalance(real, model);
  }
  toString = () => `commit(${this.hold}, ${JSON.stringify(this.items)})`;
}

class ExpireCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly hold: string) {}
  check = () => true;
  async run(model: Model, real: Real) {
    model.pool.expire(this.hold);
    await runInDurableObject(real.stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE holds SET expires_at = 1 WHERE hold_id = ?", this.hold);
    });
    await runDurableObjectAlarm(real.stub);
    await checkBalance(real, model);
  }
  toString = () => `expire(${this.hold})`;
}

const commands = [
  amount.map(
    (a) =>
      new OpCommand(
        `fund(${a})`,
        (m) => m.fund(a),
        (s, id, t) => s.fund({ opId: id, amount: a + (t ? 1 : 0), actor: "test" }),
      ),
  ),
  amount.map(
    (a) =>
      new OpCommand(
        `withdraw(${a})`,
        (m) => m.withdraw(a),
        (s, id, t) => s.withdraw({ opId: id, amount: a + (t ? 1 : 0), actor: "test" }),
      ),
  ),
  fc.tuple(fc.constantFrom(...HOLDS), amount).map(([h, a]) => {
    const expiresAt = FAR(); // fixed per command, so a replay sends the very same arguments
    return new OpCommand(
      `reserve(${h}, ${a})`,
      (m) => m.reserve(h, a),
      (s, id, t) => s.reserve({ opId: id, holdId: h, amount: a + (t ? 1 : 0), expiresAt, actor: "test" }),
    );
  }),
  fc
    .tuple(
      fc.constantFrom(...HOLDS),
      fc.array(fc.record({ id: fc.constantFrom(...ITEMS), amount: fc.integer({ min: 1, max: 8 }).map((n) => n * 50) }), { minLength: 1, maxLength: 4 }),
    )
    .map(([h, items]) => new CommitCommand(h, items)),
  fc.tuple(fc.constantFrom(...HOLDS), fc.oneof(amount, fc.constant("rest" as const))).map(
    ([h, a]) =>
      new OpCommand(
        `release(${h}, ${a})`,
        (m) => m.release(h, a),
        (s, id, t) => s.release({ opId: id, holdId: h, amount: t ? (a === "rest" ? 1 : "rest") : a, actor: "test" }),
      ),
  ),
  fc.constantFrom(...ITEMS).map(
    (i) =>
      new OpCommand(
        `reverse(${i})`,
        (m) => m.reverse(i),
        (s, id, t) => s.reverse({ opId: id, itemId: t ? `${i}-other` : i, actor: "test" }),
      ),
  ),
  fc.constantFrom(...ITEMS).map(
    (i) =>
      new OpCommand(
        `refund(${i})`,
        (m) => m.refund(i),
        (s, id, t) => s.refund({ opId: id, itemId: t ? `${i}-other` : i, actor: "test" }),
      ),
  ),
  fc.constantFrom(...HOLDS).map((h) => new ExpireCommand(h)),
  fc.tuple(fc.nat(), fc.boolean()).map(([i, t]) => new ReplayCommand(i, t)),
];

describe("FundingPool against a pure model", () => {
  it(`matches the model and keeps the invariant over ${RUNS} random sequences`, async () => {
    let pools = 0;
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 25 }), async (cmds) => {
        const stub = env.FUNDING_POOL.get(env.FUNDING_POOL.idFromName(`model-${pools++}-${crypto.randomUUID()}`));
        await stub.init({ poolId: "pool_model", org: "model", currency: "USD" });
        try {
          await fc.asyncModelRun(() => ({ model: { pool: new PoolModel() }, real: { stub, opSeq: 0, history: [] } }), cmds);
          const integrity = await stub.checkIntegrity();
          expect(integrity.problems).toEqual([]);
        } finally {
          // Each sequence has its own pool; closing it keeps long runs (20,000 pools) within open-file limits.
          await evictDurableObject(stub).catch(() => {});
        }
      }),
      { numRuns: RUNS, seed: SEED, path: PATH, verbose: 1 },
    );
  }, 600_000);
});
