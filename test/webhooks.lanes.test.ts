/**
 * The webhooks slow lane (src/webhooks/lanes.ts): a failing endpoint's messages leave the fast lane
 * (`rewardrail-webhooks`) for the slow one (`rewardrail-webhooks-slow`) and are still delivered in
 * per-entity order once it recovers; a send unanswered after the fast lane's wait is abandoned there,
 * recorded, and handed to the slow lane without spending one of the ten attempts.
 */
import { env } from "cloudflare:workers";
import { HttpResponse, http } from "msw";
import { describe, expect, it } from "vitest";
import type { Env } from "../src/env";
import { QUEUES } from "../src/queues/messages";
import { consumeWebhooks } from "../src/queues/webhooks.consumer";
import { FAST_LANE_WAIT_MS } from "../src/webhooks/lanes";
import { sendMessages } from "../src/webhooks/send";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { interceptOutbound } from "./helpers/msw";
import { dueMessage } from "./helpers/webhook-factories";

const server = interceptOutbound();

type Lane = "fast" | "slow";
interface Queued {
  lane: Lane;
  body: any;
  delaySeconds?: number;
}

/** Both lanes' queues, recording what is sent to which. */
function lanes() {
  const sent: Queued[] = [];
  const queue = (lane: Lane) =>
    ({
      async sendBatch(msgs: { body: unknown; delaySeconds?: number }[]) {
        for (const m of msgs) sent.push({ lane, body: m.body, delaySeconds: m.delaySeconds });
      },
    }) as unknown as Queue;
  return { sent, env: { ...env, WEBHOOK_QUEUE: queue("fast"), WEBHOOK_SLOW_QUEUE: queue("slow") } as Env };
}

/** Runs the consumer of `lane` over `bodies` as one batch; returns what it acked. */
async function consume(e: Env, lane: Lane, bodies: unknown[]) {
  const acked: string[] = [];
  const batch = {
    queue: lane === "slow" ? QUEUES.webhooksSlow : QUEUES.webhooks,
    messages: bodies.map((body, i) => ({ id: `q${i}`, body, attempts: 1, timestamp: new Date(), ack: () => acked.push(`q${i}`), retry: () => {} })),
  } as unknown as MessageBatch<unknown>;
  await consumeWebhooks(batch, e);
  return acked;
}

async function createEndpoint(org: string) {
  const res = await callJson("/v1/webhook-endpoints", {
    token: await token({ org, sub: "ada", roles: ["admin"] }),
    body: { url: `https://hooks.example.com/${org}/${crypto.randomUUID().slice(0, 6)}`, events: ["*"] },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; url: string };
}

const endpointRow = (id: string) =>
  env.DB.prepare("SELECT failing_since, breaker_until, slow_lane_until FROM webhook_endpoints WHERE id = ?")
    .bind(id)
    .first<{ failing_since: string | null; breaker_until: string | null; slow_lane_until: string | null }>();
const messageRow = (id: string) =>
  env.DB.prepare("SELECT status, attempts, lease_until FROM webhook_messages WHERE id = ?")
    .bind(id)
    .first<{ status: string; attempts: number; lease_until: string | null }>();

/** The clock moves on: the endpoint's breaker has closed and its messages' retries are due. */
async function timePasses(org: string, endpointId: string) {
  await env.DB.prepare("UPDATE webhook_endpoints SET breaker_until = '2000-01-01T00:00:00.000Z' WHERE id = ? AND breaker_until IS NOT NULL")
    .bind(endpointId)
    .run();
  await env.DB.prepare("UPDATE webhook_messages SET next_attempt_at = '2000-01-01T00:00:00.000Z' WHERE org = ? AND status = 'pending'").bind(org).run();
}

describe("the slow lane", () => {
  it("takes a tripped endpoint's messages off the fast lane, and delivers them in per-entity order once it recovers", async () => {
    const org = uniqueOrg("lanes");
    const ep = await createEndpoint(org);
    const healthy = await createEndpoint(org);
    const a1 = await dueMessage(org, ep.id, "bat_a", "batch.submitted");
    const a2 = await dueMessage(org, ep.id, "bat_a", "batch.approved");
    const a3 = await dueMessage(org, ep.id, "bat_a", "batch.released");
    const b1 = await dueMessage(org, ep.id, "bat_b", "batch.submitted");
    const h1 = await dueMessage(org, healthy.id, "bat_a", "batch.submitted");
    let down = true;
    let requests = 0;
    const got: { entity: string; type: string; sequence: number }[] = [];
    server.use(
      http.post(ep.url, async ({ request }) => {
        const body = (await request.json()) as { type: string; sequence: number; data: { id: string } };
        requests++;
        if (down) return new HttpResponse("down", { status: 503 });
        got.push({ entity: body.data.id, type: body.type, sequence: body.sequence });
        return new HttpResponse(null, { status: 204 });
      }),
      http.post(healthy.url, () => new HttpResponse(null, { status: 204 })),
    );
    const { env: e, sent } = lanes();

    // The fast lane meets the failure: the breaker trips and everything of that endpoint goes to the slow lane.
    await consume(e, "fast", [
      { type: "webhook_send", org, endpointId: ep.id, messageIds: [a1, a2, a3, b1] },
      { type: "webhook_send", org, endpointId: healthy.id, messageId: h1 },
    ]);
    expect((await messageRow(h1))!.status).toBe("delivered");
    expect((await endpointRow(ep.id))!.failing_since).not.toBeNull();
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((q) => q.lane === "slow" && q.body.endpointId === ep.id)).toBe(true);
    for (const id of [a2, a3]) expect(await messageRow(id)).toMatchObject({ status: "pending", attempts: 0, lease_until: null });

    // A group of it that still reaches the fast lane is handed over unread, to wait out the breaker.
    const fromFirstRun = sent.splice(0);
    const later = { type: "webhook_send", org, endpointId: ep.id, messageIds: [a3] };
    expect(await consume(e, "fast", [later])).toEqual(["q0"]);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ lane: "slow", body: later });
    expect(sent[0]!.delaySeconds).toBeGreaterThan(0);

    // Still down when the breaker closes: one probe only, the rest put off again in the slow lane.
    let queued = [...fromFirstRun, ...sent.splice(0)];
    await timePasses(org, ep.id);
    requests = 0;
    await consume(
      e,
      "slow",
      queued.map((q) => q.body),
    );
    expect(requests).toBe(1);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((q) => q.lane === "slow")).toBe(true);

    // It recovers: the slow lane delivers everything, one entity's events in order, and the endpoint returns to the fast lane.
    down = false;
    for (let round = 0; round < 10 && sent.length > 0; round++) {
      queued = sent.splice(0);
      await timePasses(org, ep.id);
      for (const lane of ["slow", "fast"] as const) {
        const bodies = queued.filter((q) => q.lane === lane).map((q) => q.body);
        if (bodies.length > 0) await consume(e, lane, bodies);
      }
    }
    for (const id of [a1, a2, a3, b1]) expect((await messageRow(id))!.status).toBe("delivered");
    const a = got.filter((g) => g.entity === "bat_a");
    expect(a.map((g) => g.type)).toEqual(["batch.submitted", "batch.approved", "batch.released"]);
    expect(got.filter((g) => g.entity === "bat_b")).toHaveLength(1);
    expect(await endpointRow(ep.id)).toMatchObject({ failing_since: null, breaker_until: null });
  });

  it("abandons a send unanswered after the fast lane's wait, records it without spending an attempt, and hands the endpoint to the slow lane", async () => {
    const org = uniqueOrg("hang");
    const ep = await createEndpoint(org);
    const m1 = await dueMessage(org, ep.id, "bat_h", "batch.submitted");
    const m2 = await dueMessage(org, ep.id, "bat_h", "batch.approved");
    const other = await dueMessage(org, ep.id, "bat_i", "batch.submitted");
    const { env: e, sent } = lanes();
    // A receiver that never answers: only the sender's timeout ends the request.
    const hang = ((_: RequestInfo | URL, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => init?.signal?.addEventListener("abort", () => reject(init.signal!.reason)))) as typeof fetch;
    const started = Date.now();
    const out = await sendMessages(e, org, [m1, m2, other], { fetch: hang, lane: "fast" });
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(FAST_LANE_WAIT_MS * 0.9);
    expect(waited).toBeLessThan(FAST_LANE_WAIT_MS + 3000);
    expect(out.get(m1)).toMatchObject({ kind: "retry", statusCode: null, delayS: 0 });
    expect(out.get(m2)).toMatchObject({ kind: "skipped", reason: "waiting" });
    // Recorded (a request went out), not counted towards the ten; the endpoint is not failing, only slow.
    expect(await messageRow(m1)).toMatchObject({ status: "pending", attempts: 0, lease_until: null });
    const attempts = await env.DB.prepare("SELECT id, error, outcome FROM webhook_attempts WHERE message_id = ?")
      .bind(m1)
      .all<{ id: string; error: string; outcome: string }>();
    expect(attempts.results).toHaveLength(1);
    expect(attempts.results[0]!.error).toBe(`no answer within ${FAST_LANE_WAIT_MS} ms in the fast lane: sent again from the slow lane`);
    const ep1 = await endpointRow(ep.id);
    expect(ep1).toMatchObject({ failing_since: null, breaker_until: null });
    expect(ep1!.slow_lane_until! > new Date().toISOString()).toBe(true);
    expect(sent.map((q) => [q.lane, q.delaySeconds ?? 0])).toEqual([["slow", 0]]);
    expect([...sent[0]!.body.messageIds].sort()).toEqual([m1, other].sort());

    // The deliveries list shows the abandoned attempt; a retry by its attempt id finds the delivery.
    const admin = await token({ org, sub: "ada", roles: ["admin"] });
    const list = await callJson(`/v1/webhook-endpoints/${ep.id}/deliveries`, { token: admin });
    const listed = (list.body.data as any[]).find((d) => d.id === m1);
    expect(listed.attempts.map((x: any) => x.id)).toEqual([attempts.results[0]!.id]);
    server.use(http.post(ep.url, () => new HttpResponse(null, { status: 204 })));
    const retried = await callJson(`/v1/webhook-deliveries/${attempts.results[0]!.id}/retry`, { method: "POST", token: admin });
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(retried.body).toMatchObject({ id: m1, status: "delivered" });
  });
});
