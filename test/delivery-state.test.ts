import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AppError } from "../src/core/errors";
import { deliveries } from "../src/db/schema";
import {
  DELIVERY_STATUSES,
  DELIVERY_TRANSITIONS,
  canTransition,
  cancel,
  claim,
  deliveredNow,
  failExhausted,
  failedNow,
  move,
  requeue,
  retire,
  reverse,
  settle,
  valueCommitted,
  valueReturned,
  type DeliveryStatus,
} from "../src/delivery/delivery-state";
import { uniqueOrg } from "./helpers/api";

const FINAL: DeliveryStatus[] = ["reversed", "reissued"];
const pairs = DELIVERY_STATUSES.flatMap((from) => DELIVERY_STATUSES.map((to) => [from, to] as const));

/** A bare delivery row in `status` (deliveries has no foreign keys: the state machine needs nothing else). */
async function row(status: DeliveryStatus, extra: { committed?: number; claimedUntil?: string | null } = {}): Promise<string> {
  const id = `dlv_${crypto.randomUUID()}`;
  const at = new Date().toISOString();
  await env.DB.prepare(
    `INSERT INTO deliveries (id, org, batch_id, recipient_id, pool_id, product_id, channel, amount, currency, status, item, committed, claimed_until, created_at, updated_at)
     VALUES (?1, ?2, 'bat_x', 'rcp_x', 'pool_x', 'prd_x', 'email', 2500, 'USD', ?3, ?1, ?4, ?5, ?6, ?6)`,
  )
    .bind(id, uniqueOrg(), status, extra.committed ?? 0, extra.claimedUntil ?? null, at)
    .run();
  return id;
}

async function read(id: string) {
  return (await env.DB.prepare("SELECT status, committed, claimed_until, attempts, delivered_at, updated_at FROM deliveries WHERE id = ?").bind(id).first<{
    status: DeliveryStatus;
    updated_at: string;
    committed: number;
    claimed_until: string | null;
    attempts: number;
    delivered_at: string | null;
  }>())!;
}

const other = (s: DeliveryStatus): DeliveryStatus => DELIVERY_STATUSES.find((x) => x !== s)!;

describe("delivery lifecycle table", () => {
  it("names the statuses of the deliveries table, and nothing leaves a final status", () => {
    expect([...DELIVERY_STATUSES]).toEqual(deliveries.status.enumValues);
    for (const from of DELIVERY_STATUSES) for (const to of DELIVERY_TRANSITIONS[from]) expect(DELIVERY_STATUSES).toContain(to);
    for (const final of FINAL) for (const to of DELIVERY_STATUSES) expect(canTransition(final, to)).toBe(false);
    for (const from of DELIVERY_STATUSES) expect(canTransition(from, "queued")).toBe(["sending", "failed", "held"].includes(from));
  });

  it.each(pairs)("%s → %s: a legal move is applied only to a row in that status; an illegal one is never built", async (from, to) => {
    const at = new Date().toISOString();
    if (!canTransition(from, to)) {
      const err = (() => {
        try {
          move(env.DB, { id: "dlv_x", from: [from], to, reason: null, at });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("invalid_state_transition");
      return;
    }
    const id = await row(from, { claimedUntil: at });
    const bystander = await row(other(from));
    await env.DB.batch([move(env.DB, { id, from: [from], to, reason: "test", at }), move(env.DB, { id: bystander, from: [from], to, reason: "test", at })]);
    expect(await read(id)).toMatchObject({ status: to, claimed_until: null, delivered_at: to === "delivered" ? at : null });
    expect((await read(bystander)).status).toBe(other(from));
  });
});

describe("the consumer's claim and settle", () => {
  it("claims queued rows and rows whose lease ran out, nothing else, writing only the lease", async () => {
    const now = new Date();
    const past = new Date(now.getTime() - 1000).toISOString();
    const future = new Date(now.getTime() + 60_000).toISOString();
    const ids = {
      queued: await row("queued"),
      lapsed: await row("sending", { claimedUntil: past }),
      lapsedQueued: await row("queued", { claimedUntil: past }),
      live: await row("sending", { claimedUntil: future }),
      liveQueued: await row("queued", { claimedUntil: future }),
      delivered: await row("delivered"),
      failed: await row("failed"),
      held: await row("held"),
    };
    const org = (await env.DB.prepare("SELECT org FROM deliveries WHERE id = ?").bind(ids.queued).first<{ org: string }>())!.org;
    await env.DB.prepare("UPDATE deliveries SET org = ? WHERE id IN (SELECT value FROM json_each(?))")
      .bind(org, JSON.stringify(Object.values(ids)))
      .run();
    const before = await read(ids.queued);
    const lease = new Date(now.getTime() + 60_000);
    const claimed = await claim(env.DB, org, Object.values(ids), now, lease).all<{ id: string }>();
    expect(claimed.results.map((r) => r.id).sort()).toEqual([ids.queued, ids.lapsed, ids.lapsedQueued].sort());
    // Status and updated_at are index keys: the claim leaves them, so it writes the row alone.
    expect(await read(ids.queued)).toMatchObject({ status: "queued", attempts: 1, claimed_until: lease.toISOString(), updated_at: before.updated_at });
    expect(claimed.meta.rows_written).toBe(3);
    for (const id of [ids.live, ids.liveQueued, ids.delivered, ids.failed, ids.held]) expect((await read(id)).attempts).toBe(0);
  });

  it.each(DELIVERY_STATUSES)("settles a sending row as %s only when the table allows it", async (to) => {
    const at = new Date().toISOString();
    const id = await row("sending");
    if (!canTransition("sending", to)) {
      expect(() => settle(env.DB, [{ id, status: to, reason: null }], at)).toThrow(AppError);
      return;
    }
    const notSending = await row("queued");
    const claimedQueued = await row("queued", { claimedUntil: at });
    await settle(
      env.DB,
      [
        { id, status: to, reason: null, committed: true },
        { id: notSending, status: to, reason: null, committed: true },
        { id: claimedQueued, status: to, reason: null, committed: true },
      ],
      at,
    ).run();
    expect(await read(id)).toMatchObject({ status: to, committed: 1 });
    expect(await read(claimedQueued)).toMatchObject({ status: to, committed: 1, claimed_until: null });
    expect(await read(notSending)).toMatchObject({ status: "queued", committed: 0 });
  });

  it("leaves committed as it is when an outcome does not say", async () => {
    const id = await row("sending", { committed: 1 });
    await settle(env.DB, [{ id, status: "queued", reason: "transient" }], new Date().toISOString()).run();
    expect(await read(id)).toMatchObject({ status: "queued", committed: 1 });
  });
});

describe("named moves write committed with the status", () => {
  const at = () => new Date().toISOString();
  const cases: [string, DeliveryStatus, number, (id: string) => D1PreparedStatement, DeliveryStatus, number][] = [
    ["dead letter", "sending", 1, (id) => failExhausted(env.DB, id, "retries exhausted", at()), "failed", 0],
    ["send now delivered", "failed", 0, (id) => deliveredNow(env.DB, id, "****1234", at()), "delivered", 1],
    ["send now failed, value kept", "held", 1, (id) => failedNow(env.DB, id, "data: bad", null, 1, at()), "failed", 1],
    ["retry requeues", "held", 1, (id) => requeue(env.DB, id, "retry", at()), "queued", 1],
    ["cancel", "failed", 1, (id) => cancel(env.DB, id, "cancelled", at()), "failed", 0],
    ["reverse", "delivered", 1, (id) => reverse(env.DB, id, "reversed", at()), "reversed", 0],
    ["reissue retires", "delivered", 1, (id) => retire(env.DB, id, "dlv_new", at()), "reissued", 1],
    ["value committed again", "failed", 0, (id) => valueCommitted(env.DB, id), "failed", 1],
    ["value returned", "held", 1, (id) => valueReturned(env.DB, id), "held", 0],
  ];

  it.each(cases)("%s", async (_name, from, committedBefore, build, to, committedAfter) => {
    const id = await row(from, { committed: committedBefore });
    await build(id).run();
    expect(await read(id)).toMatchObject({ status: to, committed: committedAfter });
    // The same statement on a row in a status it does not expect changes nothing.
    const wrong = await row("reissued", { committed: committedBefore });
    await build(wrong).run();
    expect(await read(wrong)).toMatchObject({ status: "reissued", committed: committedBefore });
  });
});
