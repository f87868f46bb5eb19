/**
 * A failing endpoint's backlog (src/webhooks/backlog.ts): while it fails, the fan-out writes no message rows
 * for it beyond one probe; once an attempt gets through, its messages are materialised from the events and
 * every event arrives once (one `webhook-id` each), in per-entity order; recover and the deliveries log still
 * show and resend everything; a healthy endpoint of the same org is not affected.
 */
import { env } from "cloudflare:workers";
import { HttpResponse, http } from "msw";
import { describe, expect, it } from "vitest";
import type { Env } from "../src/env";
import { QUEUES } from "../src/queues/messages";
import { consumeWebhooks } from "../src/queues/webhooks.consumer";
import { dispatchOrg, PAGES_PER_DISPATCH } from "../src/webhooks/dispatch";
import { outboxRows, outboxStatement } from "../src/webhooks/outbox";
import { sweepWebhooks } from "../src/webhooks/sweep";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { interceptOutbound } from "./helpers/msw";
import { outboxEvent } from "./helpers/webhook-factories";

const server = interceptOutbound();

type Lane = "fast" | "slow";

/** Both lanes' queues, recording what is sent; `run` consumes what is queued, round after round, as time passes. */
function queues(org: string) {
  let sent: { lane: Lane; body: unknown }[] = [];
  const queue = (lane: Lane) =>
    ({
      async sendBatch(msgs: { body: unknown }[]) {
        for (const m of msgs) sent.push({ lane, body: m.body });
      },
    }) as unknown as Queue;
  const e = { ...env, WEBHOOK_QUEUE: queue("fast"), WEBHOOK_SLOW_QUEUE: queue("slow") } as Env;
  const consume = async (lane: Lane, bodies: unknown[]) => {
    const batch = {
      queue: lane === "slow" ? QUEUES.webhooksSlow : QUEUES.webhooks,
      messages: bodies.map((body, i) => ({ id: `q${i}`, body, attempts: 1, timestamp: new Date(), ack: () => {}, retry: () => {} })),
    } as unknown as MessageBatch<unknown>;
    await consumeWebhooks(batch, e);
  };
  return {
    env: e,
    dispatch: () => consume("fast", [{ type: "webhook_dispatch", org }]),
    /** Consumes everything queued (and what that queues), the clock moving on between rounds: breakers close, retries fall due. */
    async run(rounds = 30) {
      for (let round = 0; round < rounds && sent.length > 0; round++) {
        const queued = sent;
        sent = [];
        await env.DB.prepare("UPDATE webhook_endpoints SET breaker_until = '2000-01-01T00:00:00.000Z' WHERE org = ? AND breaker_until IS NOT NULL")
          .bind(org)
          .run();
        await env.DB.prepare("UPDATE webhook_messages SET next_attempt_at = '2000-01-01T00:00:00.000Z' WHERE org = ? AND status = 'pending'").bind(org).run();
        for (const lane of ["fast", "slow"] as const) {
          const bodies = queued.filter((q) => q.lane === lane).map((q) => q.body);
          for (let i = 0; i < bodies.length; i += 100) await consume(lane, bodies.slice(i, i + 100));
        }
      }
      return sent.length;
    },
  };
}

async function createEndpoint(org: string, events = ["*"]) {
  const res = await callJson("/v1/webhook-endpoints", {
    token: await token({ org, sub: "ada", roles: ["admin"] }),
    body: { url: `https://hooks.example.com/${org}/${crypto.randomUUID().slice(0, 6)}`, events },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; url: string };
}

/** A receiver that answers 503 while `down`, else records each message (its webhook-id, entity and sequence). */
function receiver(url: string) {
  const r = { down: false, requests: 0, got: [] as { webhookId: string; entity: string; sequence: number; type: string }[] };
  server.use(
    http.post(url, async ({ request }) => {
      r.requests++;
      const body = (await request.json()) as { type: string; sequence: number; data: { id: string } };
      if (r.down) return new HttpResponse("down", { status: 503 });
      r.got.push({ webhookId: request.headers.get("webhook-id")!, entity: body.data.id, sequence: body.sequence, type: body.type });
      return new HttpResponse(null, { status: 204 });
    }),
  );
  return r;
}

const rowsOf = async (endpointId: string) =>
  (
    await env.DB.prepare("SELECT id, event_id, status, last_error FROM webhook_messages WHERE endpoint_id = ?")
      .bind(endpointId)
      .all<{ id: string; event_id: string; status: string; last_error: string | null }>()
  ).results;
const backlogOf = async (endpointId: string) =>
  (await env.DB.prepare("SELECT backlog_from_seq, failing_since FROM webhook_endpoints WHERE id = ?")
    .bind(endpointId)
    .first<{ backlog_from_seq: number | null; failing_since: string | null }>())!;

/** Each entity's sequences as received, in order. */
function byEntity(got: { entity: string; sequence: number }[]) {
  const out = new Map<string, number[]>();
  for (const g of got) out.set(g.entity, [...(out.get(g.entity) ?? []), g.sequence]);
  return out;
}

/** The endpoint fails its first message: it is failing (breaker tripped) and the outage's events go to its backlog. */
async function outage(org: string) {
  const dead = await createEndpoint(org);
  const healthy = await createEndpoint(org);
  const d = receiver(dead.url);
  const h = receiver(healthy.url);
  const q = queues(org);
  d.down = true;
  const first = await outboxEvent(org, "bat_a", "batch.submitted");
  await q.dispatch();
  await q.run(1);
  expect((await backlogOf(dead.id)).failing_since).not.toBeNull();
  const events = [first];
  for (const [entity, action] of [
    ["bat_a", "batch.approved"],
    ["bat_b", "batch.submitted"],
    ["bat_a", "batch.released"],
    ["bat_b", "batch.approved"],
    ["bat_c", "batch.submitted"],
    ["bat_a", "batch.completed"],
  ] as const) {
    events.push(await outboxEvent(org, entity, action));
    await q.dispatch();
  }
  return { dead, healthy, d, h, q, events };
}

describe("the fan-out of a burst", () => {
  it("handles at most PAGES_PER_DISPATCH pages per invocation and queues the rest ahead of the page's sends", async () => {
    const org = uniqueOrg("burst");
    await createEndpoint(org);
    const n = PAGES_PER_DISPATCH * 500 + 100;
    const rows = outboxRows(
      Array.from({ length: n }, (_, i) => ({ actor: "t", action: "batch.approved", entityType: "batch", entityId: `bat_${i}`, after: { status: "approved" } })),
      new Date().toISOString(),
    );
    await outboxStatement(env.DB, org, rows)!.run();
    const sent: { body: any }[] = [];
    const queue = { sendBatch: async (msgs: { body: unknown }[]) => void sent.push(...(msgs as { body: any }[])) } as unknown as Queue;
    const e = { ...env, WEBHOOK_QUEUE: queue, WEBHOOK_SLOW_QUEUE: queue } as Env;
    expect(await dispatchOrg(e, org)).toBe(PAGES_PER_DISPATCH * 500);
    const kinds = sent.map((m) => m.body.type);
    expect(kinds.filter((k) => k === "webhook_dispatch")).toHaveLength(1);
    // Ahead of the last page's sends.
    expect(kinds.indexOf("webhook_dispatch")).toBeLessThan(kinds.lastIndexOf("webhook_send"));
    expect(await dispatchOrg(e, org)).toBe(100);
    const left = await env.DB.prepare("SELECT count(*) AS n FROM webhook_events WHERE org = ? AND dispatched_at IS NULL").bind(org).first<{ n: number }>();
    expect(left!.n).toBe(0);
  });
});

describe("a failing endpoint's backlog", () => {
  it("writes no message rows for it during an outage, then delivers every event once, in per-entity order, once it recovers", async () => {
    const org = uniqueOrg("backlog");
    const { dead, healthy, d, h, q, events } = await outage(org);
    // The dead endpoint: its first message and one probe (the first event of the outage); the rest are kept back.
    const deadRows = await rowsOf(dead.id);
    expect(deadRows.map((r) => r.event_id).sort()).toEqual([events[0]!.id, events[1]!.id].sort());
    expect((await backlogOf(dead.id)).backlog_from_seq).toBe(events[1]!.seq + 1);
    // The healthy one: a row per event, all delivered while the other is down.
    await q.run(3);
    expect((await rowsOf(healthy.id)).map((r) => r.status)).toEqual(events.map(() => "delivered"));
    expect(h.got.map((g) => g.webhookId).sort()).toEqual(events.map((e) => e.id).sort());
    expect(d.got).toHaveLength(0);
    expect(await rowsOf(dead.id)).toHaveLength(2);

    // It recovers: the probe gets through, the backlog is materialised and sent.
    d.down = false;
    expect(await q.run()).toBe(0);
    expect(d.got.map((g) => g.webhookId).sort()).toEqual(events.map((e) => e.id).sort());
    expect(new Set(d.got.map((g) => g.webhookId)).size).toBe(events.length);
    for (const seqs of byEntity(d.got).values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(byEntity(d.got).get("bat_a")).toHaveLength(4);
    expect((await rowsOf(dead.id)).map((r) => r.status)).toEqual(events.map(() => "delivered"));
    expect(await backlogOf(dead.id)).toEqual({ backlog_from_seq: null, failing_since: null });

    // After the recovery, new events get their rows at fan-out again.
    const after = await outboxEvent(org, "bat_a", "batch.expired");
    await q.dispatch();
    expect((await rowsOf(dead.id)).map((r) => r.event_id)).toContain(after.id);
  });

  it("keeps a disabled endpoint's backlog as failed messages, which recover { since } resends once, in order", async () => {
    const org = uniqueOrg("backlog-off");
    const { dead, d, q, events } = await outage(org);
    const admin = await token({ org, sub: "ada", roles: ["admin"] });
    const off = await callJson(`/v1/webhook-endpoints/${dead.id}`, { method: "PATCH", token: admin, body: { enabled: false } });
    expect(off.status, JSON.stringify(off.body)).toBe(200);
    await q.dispatch();
    await q.run();
    const rows = await rowsOf(dead.id);
    expect(rows.map((r) => r.event_id).sort()).toEqual(events.map((e) => e.id).sort());
    expect(rows.every((r) => r.status === "failed")).toBe(true);
    expect(rows.filter((r) => r.last_error === "endpoint disabled: disabled by an admin").length).toBeGreaterThanOrEqual(events.length - 2);
    expect((await backlogOf(dead.id)).backlog_from_seq).toBeNull();

    const on = await callJson(`/v1/webhook-endpoints/${dead.id}`, { method: "PATCH", token: admin, body: { enabled: true } });
    expect(on.status).toBe(200);
    d.down = false;
    const rec = await callJson(`/v1/webhook-endpoints/${dead.id}/recover`, {
      method: "POST",
      token: admin,
      body: { since: new Date(Date.now() - 3_600_000).toISOString() },
    });
    expect(rec.status, JSON.stringify(rec.body)).toBe(202);
    expect(rec.body.recovered).toBe(events.length);
    // recover queues on the real queue: the test sends the recovered ids through its own.
    await q.env.WEBHOOK_QUEUE.sendBatch([{ body: { type: "webhook_send", org, endpointId: dead.id, messageIds: rec.body.delivery_ids } }]);
    await q.run();
    expect(d.got.map((g) => g.webhookId).sort()).toEqual(events.map((e) => e.id).sort());
    for (const seqs of byEntity(d.got).values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it("shows the backlog in the deliveries log, and recover { since } counts what it materialises", async () => {
    const org = uniqueOrg("backlog-log");
    const { dead, events } = await outage(org);
    const admin = await token({ org, sub: "ada", roles: ["admin"] });
    expect(await rowsOf(dead.id)).toHaveLength(2);
    const list = await callJson(`/v1/webhook-endpoints/${dead.id}/deliveries?limit=100`, { token: admin });
    expect(list.status).toBe(200);
    expect((list.body.data as { event_id: string }[]).map((x) => x.event_id).sort()).toEqual(events.map((e) => e.id).sort());
    expect((await backlogOf(dead.id)).backlog_from_seq).toBeNull();

    // Another outage event, then recover on the still-failing endpoint: the new backlog is materialised and counted.
    const org2 = uniqueOrg("backlog-rec");
    const second = await outage(org2);
    const admin2 = await token({ org: org2, sub: "ada", roles: ["admin"] });
    const rec = await callJson(`/v1/webhook-endpoints/${second.dead.id}/recover`, {
      method: "POST",
      token: admin2,
      body: { since: new Date(Date.now() - 3_600_000).toISOString() },
    });
    expect(rec.status, JSON.stringify(rec.body)).toBe(202);
    expect(rec.body.recovered).toBe(second.events.length - 2);
    expect((await rowsOf(second.dead.id)).map((r) => r.event_id).sort()).toEqual(second.events.map((e) => e.id).sort());
  });

  it("starts a backlog for an endpoint in the slow lane for not answering, and drains it once an attempt gets through there", async () => {
    const org = uniqueOrg("backlog-slow");
    const slow = await createEndpoint(org);
    const r = receiver(slow.url);
    const q = queues(org);
    // No answer within the fast lane's wait: the endpoint is in the slow lane (not failing yet).
    await env.DB.prepare("UPDATE webhook_endpoints SET slow_lane_until = ? WHERE id = ?")
      .bind(new Date(Date.now() + 600_000).toISOString(), slow.id)
      .run();
    const events = [];
    for (const action of ["batch.submitted", "batch.approved", "batch.released"]) events.push(await outboxEvent(org, "bat_s", action));
    await q.dispatch();
    expect((await rowsOf(slow.id)).map((x) => x.event_id)).toEqual([events[0]!.id]);
    // The probe is answered in the slow lane: the backlog is drained although the endpoint stays there.
    expect(await q.run()).toBe(0);
    expect(r.got.map((g) => g.webhookId)).toEqual(events.map((e) => e.id));
    expect((await backlogOf(slow.id)).backlog_from_seq).toBeNull();
  });

  it("is drained by the cron sweep when nothing else would (the endpoint no longer fails and the org has no new event)", async () => {
    const org = uniqueOrg("backlog-sweep");
    const ep = await createEndpoint(org);
    const r = receiver(ep.url);
    const q = queues(org);
    const events = [await outboxEvent(org, "bat_w", "batch.submitted"), await outboxEvent(org, "bat_w", "batch.approved")];
    await env.DB.prepare("UPDATE webhook_events SET dispatched_at = ? WHERE org = ?").bind(new Date().toISOString(), org).run();
    await env.DB.prepare("UPDATE webhook_endpoints SET backlog_from_seq = ? WHERE id = ?").bind(events[0]!.seq, ep.id).run();
    await sweepWebhooks(q.env, new Date());
    expect(await q.run()).toBe(0);
    expect(r.got.map((g) => g.webhookId)).toEqual(events.map((e) => e.id));
    expect((await backlogOf(ep.id)).backlog_from_seq).toBeNull();
  });

  it("materialises the next backlog event as the probe when the probe runs out of attempts", async () => {
    const org = uniqueOrg("backlog-probe");
    const { dead, q, events } = await outage(org);
    // Its first message ran out of attempts long ago and the probe is on its last: it ends failed, and the next event becomes the probe.
    await env.DB.prepare("UPDATE webhook_messages SET status = 'failed' WHERE endpoint_id = ? AND event_id = ?").bind(dead.id, events[0]!.id).run();
    await env.DB.prepare("UPDATE webhook_messages SET attempts = 9 WHERE endpoint_id = ? AND event_id = ?").bind(dead.id, events[1]!.id).run();
    await q.run(2);
    const rows = await rowsOf(dead.id);
    expect(
      rows
        .filter((r) => r.status === "failed")
        .map((r) => r.event_id)
        .sort(),
    ).toEqual([events[0]!.id, events[1]!.id].sort());
    const pending = rows.filter((r) => r.status === "pending");
    expect(pending.map((r) => r.event_id)).toEqual([events[2]!.id]);
    expect((await backlogOf(dead.id)).backlog_from_seq).toBe(events[2]!.seq + 1);
  });
});
