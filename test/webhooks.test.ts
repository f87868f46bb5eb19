/**
 * Webhooks: endpoints and their secrets, signatures that standardwebhooks' own verify accepts, the
 * retry schedule, 410, ordering per entity, the outbox's atomicity, replay, and payload safety.
 */
import { env } from "cloudflare:workers";
import { http, HttpResponse } from "msw";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { appendAudit } from "../src/audit/audit";
import type { Env } from "../src/env";
import { dispatchOrg } from "../src/webhooks/dispatch";
import { outboxRows, outboxStatement } from "../src/webhooks/outbox";
import { DELAYS_S } from "../src/webhooks/retry-schedule";
import { sendMessage } from "../src/webhooks/send";
import { sweepWebhooks } from "../src/webhooks/sweep";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { interceptOutbound } from "./helpers/msw";
import { dueMessage } from "./helpers/webhook-factories";

const server = interceptOutbound();

/** Both webhook lanes' queues, recording what is sent (`lanes` says which lane each went to). */
function recordingQueue() {
  const sent: { body: any; delaySeconds?: number }[] = [];
  const lanes: ("fast" | "slow")[] = [];
  const lane = (name: "fast" | "slow") =>
    ({
      async sendBatch(msgs: { body: unknown; delaySeconds?: number }[]) {
        for (const m of msgs) {
          sent.push(m as any);
          lanes.push(name);
        }
      },
    }) as unknown as Queue;
  return { sent, lanes, env: { ...env, WEBHOOK_QUEUE: lane("fast"), WEBHOOK_SLOW_QUEUE: lane("slow") } as Env };
}

/** A receiver at `url` answering each call with the next status of `statuses` (then 200), recording what it got. */
function receiver(url: string, statuses: number[] = [], headers: Record<string, string> = {}) {
  const got: { headers: Record<string, string>; body: string }[] = [];
  server.use(
    http.post(url, async ({ request }) => {
      got.push({ headers: Object.fromEntries(request.headers), body: await request.text() });
      const status = statuses.shift() ?? 200;
      return new HttpResponse(status === 200 ? "ok" : "nope", { status, headers });
    }),
  );
  return got;
}

/** A fake fetch for direct sends: the statuses in turn, then 200. */
function fakeFetch(statuses: number[], headers: Record<string, string> = {}) {
  const calls: Request[] = [];
  const f = (async (input: RequestInfo | URL, init?: RequestInit) => {
    calls.push(new Request(input, init));
    const status = statuses.shift() ?? 200;
    return new Response(status === 200 ? "ok" : "x".repeat(5000), { status, headers });
  }) as typeof fetch;
  return { f, calls };
}

async function admin(org: string) {
  return token({ org, sub: "ada", roles: ["admin"] });
}

async function createEndpoint(org: string, body: Record<string, unknown> = {}) {
  const res = await callJson("/v1/webhook-endpoints", {
    token: await admin(org),
    body: { url: `https://hooks.example.com/${org}`, events: ["*"], owner_email: "ada@example.com", ...body },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; secret: string; url: string };
}

const messageRow = (id: string) =>
  env.DB.prepare("SELECT status, attempts, next_attempt_at FROM webhook_messages WHERE id = ?")
    .bind(id)
    .first<{ status: string; attempts: number; next_attempt_at: string }>();

describe("webhook endpoints", () => {
  it("creates an endpoint with a whsec_ secret shown once and stored only encrypted", async () => {
    const org = uniqueOrg("wh");
    const created = await createEndpoint(org, { description: "ERP" });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const row = await env.DB.prepare("SELECT * FROM webhook_endpoints WHERE id = ?").bind(created.id).first<Record<string, unknown>>();
    expect(JSON.stringify(row)).not.toContain(created.secret.slice(6));
    const auditor = await token({ org, roles: ["auditor"] });
    const one = await callJson(`/v1/webhook-endpoints/${created.id}`, { token: auditor });
    expect(one.status).toBe(200);
    expect(one.body).not.toHaveProperty("secret");
    const list = await callJson("/v1/webhook-endpoints", { token: auditor });
    expect(list.body.data.map((e: any) => e.id)).toEqual([created.id]);
    expect(JSON.stringify(list.body)).not.toContain("whsec_");
  });

  it("pages endpoints and their deliveries with cursors it gave out, and refuses made-up ones", async () => {
    const org = uniqueOrg("whpage");
    const a = await createEndpoint(org);
    const b = await createEndpoint(org);
    const auditor = await token({ org, roles: ["auditor"] });
    const first = await callJson("/v1/webhook-endpoints?limit=1", { token: auditor });
    expect(first.body.data.map((e: any) => e.id)).toEqual([[a.id, b.id].sort()[0]]);
    const second = await callJson(`/v1/webhook-endpoints?limit=1&cursor=${first.body.next_cursor}`, { token: auditor });
    expect(second.body).toMatchObject({ data: [{ id: [a.id, b.id].sort()[1] }], next_cursor: null });
    for (const path of ["/v1/webhook-endpoints?cursor=zzzz", `/v1/webhook-endpoints/${a.id}/deliveries?cursor=zzzz`, `/v1/webhook-endpoints?cursor=${a.id}`]) {
      const res = await callJson(path, { token: auditor });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([expect.objectContaining({ parameter: "cursor" })]);
    }
  });

  it("lets only admins change endpoints and hides other orgs' ones", async () => {
    const org = uniqueOrg("wh");
    const created = await createEndpoint(org);
    const auditor = await token({ org, roles: ["auditor"] });
    expect((await callJson("/v1/webhook-endpoints", { token: auditor, body: { url: "https://a.example.com", events: ["*"] } })).status).toBe(403);
    expect((await callJson(`/v1/webhook-endpoints/${created.id}`, { token: await admin(uniqueOrg("other")) })).status).toBe(404);
    const patched = await callJson(`/v1/webhook-endpoints/${created.id}`, {
      method: "PATCH",
      token: await admin(org),
      body: { events: ["batch.completed"], enabled: false },
    });
    expect(patched.body).toMatchObject({ events: ["batch.completed"], enabled: false });
    expect((await callJson(`/v1/webhook-endpoints/${created.id}`, { method: "DELETE", token: await admin(org) })).status).toBe(204);
    expect((await callJson(`/v1/webhook-endpoints/${created.id}`, { token: await admin(org) })).status).toBe(404);
  });

  it("refuses unknown event types and unknown fields", async () => {
    const org = uniqueOrg("wh");
    const t = await admin(org);
    expect((await callJson("/v1/webhook-endpoints", { token: t, body: { url: "https://a.example.com", events: ["batch.exploded"] } })).status).toBe(400);
    expect((await callJson("/v1/webhook-endpoints", { token: t, body: { url: "https://a.example.com", events: ["*"], secret: "mine" } })).status).toBe(400);
  });

  const REFUSED = [
    "http://hooks.example.com/x",
    "ftp://hooks.example.com/x",
    "https://localhost/x",
    "https://api.localhost/x",
    "https://127.0.0.1/x",
    "https://0x7f.1/x",
    "https://2130706433/x",
    "https://017700000001/x",
    "https://127.1/x",
    "https://[::1]/x",
    "https://[::ffff:127.0.0.1]/x",
    "https://[::ffff:a9fe:a9fe]/x",
    "https://[fe80::1]/x",
    "https://[fec0::1]/x",
    "https://[fd00::1]/x",
    "https://[::]/x",
    "https://0.0.0.0/x",
    "https://10.1.2.3/x",
    "https://172.16.0.1/x",
    "https://192.168.1.1/x",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/x",
    "https://metadata.google.internal/computeMetadata/v1",
    "https://user:pass@hooks.example.com/x",
    "https://localhost./x",
    "not a url",
  ];
  it.each(REFUSED)("refuses %s as an endpoint URL (400, pointer /url)", async (url) => {
    const org = uniqueOrg("ssrf");
    const res = await callJson("/v1/webhook-endpoints", { token: await admin(org), body: { url, events: ["*"] } });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].pointer).toBe("/url");
  });

  it("refuses a private URL on PATCH too, and allows http://localhost in test/development", async () => {
    const org = uniqueOrg("ssrf");
    const created = await createEndpoint(org);
    const res = await callJson(`/v1/webhook-endpoints/${created.id}`, { method: "PATCH", token: await admin(org), body: { url: "https://[::ffff:7f00:1]/x" } });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].pointer).toBe("/url");
    expect((await callJson("/v1/webhook-endpoints", { token: await admin(org), body: { url: "http://localhost:9000/hook", events: ["*"] } })).status).toBe(201);
  });
});

describe("signed sends", () => {
  it("pings an endpoint with a Standard Webhooks signature that standardwebhooks verifies, and refuses tampering and old timestamps", async () => {
    const org = uniqueOrg("sig");
    const created = await createEndpoint(org);
    const got = receiver(created.url);
    const res = await callJson(`/v1/webhook-endpoints/${created.id}/test`, { method: "POST", token: await admin(org) });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ event_type: "ping", status: "delivered", status_code: 200 });
    expect(got).toHaveLength(1);
    const { headers, body } = got[0]!;
    const wh = new Webhook(created.secret);
    expect(wh.verify(body, headers)).toMatchObject({ type: "ping", data: { id: created.id } });
    expect(headers["webhook-id"]).toBe(JSON.parse(body).id);
    // Signed with WebCrypto from the key the library read: byte for byte what the library's own sign gives.
    expect(headers["webhook-signature"]).toBe(wh.sign(headers["webhook-id"]!, new Date(Number(headers["webhook-timestamp"]) * 1000), body));
    expect(() => wh.verify(body.replace("ping", "pong"), headers)).toThrow();
    const old = { ...headers, "webhook-timestamp": String(Math.floor(Date.now() / 1000) - 3600) };
    expect(() => wh.verify(body, old)).toThrow();
  });

  it("signs with both secrets for 24 h after a rotation", async () => {
    const org = uniqueOrg("rot");
    const created = await createEndpoint(org);
    const rotated = await callJson(`/v1/webhook-endpoints/${created.id}/rotate-secret`, { method: "POST", token: await admin(org) });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).not.toBe(created.secret);
    const got = receiver(created.url);
    await callJson(`/v1/webhook-endpoints/${created.id}/test`, { method: "POST", token: await admin(org) });
    const { headers, body } = got[0]!;
    expect(headers["webhook-signature"]!.split(" ")).toHaveLength(2);
    expect(() => new Webhook(created.secret).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(rotated.body.secret).verify(body, headers)).not.toThrow();
    // After the overlap only the new secret signs.
    const { env: e } = recordingQueue();
    const id = await dueMessage(org, created.id);
    const { f, calls } = fakeFetch([]);
    await sendMessage(e, org, id, { now: new Date(Date.now() + 25 * 3600_000), fetch: f });
    const later = Object.fromEntries(calls[0]!.headers);
    expect(later["webhook-signature"]!.split(" ")).toHaveLength(1);
  });

  it("retries on the schedule until the receiver answers 2xx, keeping every attempt", async () => {
    const org = uniqueOrg("retry");
    const created = await createEndpoint(org);
    const { env: e, sent } = recordingQueue();
    const id = await dueMessage(org, created.id);
    const { f } = fakeFetch([500, 429, 503, 302]);
    let now = new Date("2031-01-01T00:00:00Z");
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const out = await sendMessage(e, org, id, { now, fetch: f });
      if (out.kind === "retry") delays.push(out.delayS!);
      now = new Date(now.getTime() + (out.kind === "retry" ? out.delayS! : 0) * 1000);
    }
    expect(delays).toEqual(DELAYS_S.slice(1, 5));
    expect(sent.filter((m) => m.body.messageId === id).map((m) => m.delaySeconds ?? 0)).toEqual([5, 300, 1800, 7200]);
    expect(await messageRow(id)).toMatchObject({ status: "delivered", attempts: 5 });
    const list = await callJson(`/v1/webhook-endpoints/${created.id}/deliveries`, { token: await token({ org, roles: ["auditor"] }) });
    const d = list.body.data.find((x: any) => x.id === id);
    expect(d.attempts.map((a: any) => a.status_code)).toEqual([500, 429, 503, 302, 200]);
    expect(d.attempts[0].response_body).toHaveLength(1024);
    expect(d.attempts[3].error).toMatch(/redirect/);
    expect(typeof d.attempts[0].latency_ms).toBe("number");
  });

  it("honours Retry-After and gives up after the tenth attempt", async () => {
    const org = uniqueOrg("retry");
    const created = await createEndpoint(org);
    const { env: e } = recordingQueue();
    const id = await dueMessage(org, created.id);
    const first = await sendMessage(e, org, id, { now: new Date("2031-01-01T00:00:00Z"), fetch: fakeFetch([429], { "retry-after": "120" }).f });
    expect(first).toMatchObject({ kind: "retry", delayS: 120 });
    let now = new Date("2031-01-01T00:05:00Z");
    let out: Awaited<ReturnType<typeof sendMessage>> | undefined;
    for (let i = 0; i < 9; i++) {
      out = await sendMessage(e, org, id, { now, fetch: fakeFetch([500]).f });
      now = new Date(now.getTime() + ((out as any).delayS ?? 0) * 1000 + 1000);
    }
    expect(out!.kind).toBe("failed");
    expect(await messageRow(id)).toMatchObject({ status: "failed", attempts: 10 });
  });

  it("disables the endpoint on 410 Gone and emails its owner", async () => {
    const org = uniqueOrg("gone");
    const created = await createEndpoint(org);
    const { env: e } = recordingQueue();
    const id = await dueMessage(org, created.id);
    server.use(http.post("https://api.resend.com/emails/batch", () => HttpResponse.json({ data: [{ id: "em_1" }] })));
    server.use(http.post("https://api.resend.com/emails", () => HttpResponse.json({ id: "em_1" })));
    const out = await sendMessage({ ...e, RESEND_API_KEY: "re_test" }, org, id, { fetch: fakeFetch([410]).f });
    expect(out.kind).toBe("failed");
    const ep = await callJson(`/v1/webhook-endpoints/${created.id}`, { token: await admin(org) });
    expect(ep.body).toMatchObject({ enabled: false, disabled_reason: expect.stringMatching(/410/) });
  });

  it("disables an endpoint failing for 5 days", async () => {
    const org = uniqueOrg("5d");
    const created = await createEndpoint(org, { owner_email: undefined });
    const { env: e } = recordingQueue();
    const start = new Date("2031-02-01T00:00:00Z");
    await sendMessage(e, org, await dueMessage(org, created.id), { now: start, fetch: fakeFetch([500]).f });
    await sendMessage(e, org, await dueMessage(org, created.id), { now: new Date(start.getTime() + 5 * 86400_000 + 1000), fetch: fakeFetch([500]).f });
    const ep = await callJson(`/v1/webhook-endpoints/${created.id}`, { token: await admin(org) });
    expect(ep.body).toMatchObject({ enabled: false, disabled_reason: expect.stringMatching(/5 days/) });
  });
});

describe("ordering", () => {
  it("holds an entity's later events at an endpoint while an earlier one retries, without holding other entities or endpoints", async () => {
    const org = uniqueOrg("order");
    const a = await createEndpoint(org);
    const b = await createEndpoint(org, { url: `https://other.example.com/${org}` });
    const { env: e, sent } = recordingQueue();
    const first = await dueMessage(org, a.id, "bat_x", "batch.approved");
    const second = await dueMessage(org, a.id, "bat_x", "batch.released");
    const otherEntity = await dueMessage(org, a.id, "bat_y");
    const otherEndpoint = await dueMessage(org, b.id, "bat_x");
    const now = new Date("2031-03-01T00:00:00Z");
    // Sent concurrently, as parallel consumer invocations would.
    const [o1, o2, o3, o4] = await Promise.all([
      sendMessage(e, org, first, { now, fetch: fakeFetch([503]).f }),
      sendMessage(e, org, second, { now, fetch: fakeFetch([]).f }),
      sendMessage(e, org, otherEntity, { now, fetch: fakeFetch([]).f }),
      sendMessage(e, org, otherEndpoint, { now, fetch: fakeFetch([]).f }),
    ]);
    expect(o1.kind).toBe("retry");
    expect(o2).toMatchObject({ kind: "skipped", reason: "waiting" });
    expect(o3.kind).toBe("delivered");
    expect(o4.kind).toBe("delivered");
    expect((await messageRow(second))!.status).toBe("pending");
    // The first one succeeds: it queues the second, which then goes.
    sent.length = 0;
    expect((await sendMessage(e, org, first, { now: new Date(now.getTime() + 6000), fetch: fakeFetch([]).f })).kind).toBe("delivered");
    expect(sent.map((m) => m.body.messageId)).toEqual([second]);
    const { f, calls } = fakeFetch([]);
    expect((await sendMessage(e, org, second, { now: new Date(now.getTime() + 7000), fetch: f })).kind).toBe("delivered");
    expect(JSON.parse(await calls[0]!.text()).type).toBe("batch.released");
  });

  it("numbers one entity's events in the order they were committed", async () => {
    const org = uniqueOrg("seq");
    await createEndpoint(org);
    for (const action of ["batch.submitted", "batch.approved", "batch.released"]) {
      await appendAudit(env.DB, org, [{ actor: "t", action, entityType: "batch", entityId: "bat_seq", after: { status: action.split(".")[1] } }]);
    }
    const { results } = await env.DB.prepare("SELECT type, seq FROM webhook_events WHERE org = ? ORDER BY seq").bind(org).all<{ type: string; seq: number }>();
    expect(results.map((r) => r.type)).toEqual(["batch.submitted", "batch.approved", "batch.released"]);
    expect(results[0]!.seq).toBeLessThan(results[1]!.seq);
  });
});

describe("the outbox", () => {
  const events = (org: string) =>
    env.DB.prepare("SELECT type, entity_id, data FROM webhook_events WHERE org = ?")
      .bind(org)
      .all<{ type: string; entity_id: string; data: string }>()
      .then((r) => r.results);

  it("writes nothing for an org without endpoints", async () => {
    const org = uniqueOrg("none");
    await appendAudit(env.DB, org, [{ actor: "t", action: "batch.approved", entityType: "batch", entityId: "bat_1", after: { status: "approved" } }]);
    expect(await events(org)).toEqual([]);
  });

  it("emits nothing when the state change fails, and one event when it commits", async () => {
    const org = uniqueOrg("atomic");
    await createEndpoint(org);
    const failing = env.DB.prepare("INSERT INTO write_guards (stale_write) VALUES (NULL)");
    await expect(appendAudit(env.DB, org, [{ actor: "t", action: "batch.approved", entityType: "batch", entityId: "bat_1" }], [failing])).rejects.toThrow();
    expect(await events(org)).toEqual([]);
    await appendAudit(env.DB, org, [
      { actor: "t", action: "batch.approved", entityType: "batch", entityId: "bat_1", after: { status: "approved" } },
      { actor: "t", action: "approval.decided", entityType: "batch", entityId: "bat_1" },
    ]);
    expect((await events(org)).map((e) => e.type)).toEqual(["batch.approved"]);
  });

  it("still emits once when the process dies after the commit: the sweep dispatches it, a second dispatch adds nothing", async () => {
    const org = uniqueOrg("crash");
    const ep = await createEndpoint(org);
    await env.DB.prepare("UPDATE webhook_endpoints SET enabled = 1 WHERE id = ?").bind(ep.id).run();
    // The commit without the kick that follows it.
    await outboxStatement(
      env.DB,
      org,
      outboxRows(
        [{ actor: "t", action: "delivery.delivered", entityType: "delivery", entityId: "dlv_1", after: { status: "delivered" } }],
        new Date().toISOString(),
      ),
    )!.run();
    const { env: e, sent } = recordingQueue();
    await sweepWebhooks(e, new Date(Date.now() + 120_000));
    expect(sent.map((m) => m.body)).toContainEqual({ type: "webhook_dispatch", org });
    await dispatchOrg(e, org);
    await dispatchOrg(e, org);
    const n = await env.DB.prepare("SELECT count(*) AS n FROM webhook_messages WHERE org = ? AND endpoint_id = ?").bind(org, ep.id).first<{ n: number }>();
    expect(n!.n).toBe(1);
  });

  it("keeps codes, claim links and addresses out of every payload", async () => {
    const org = uniqueOrg("safe");
    await createEndpoint(org);
    await appendAudit(env.DB, org, [
      {
        actor: "t",
        action: "delivery.delivered",
        entityType: "delivery",
        entityId: "dlv_2",
        after: {
          status: "delivered",
          code: "GIFT-1234-SECRET",
          claim_url: "https://x.test/claim/abc",
          reason: "see https://x.test/claim/abc",
          email: "ann@example.com",
          batch_id: "bat_9",
        },
      },
    ]);
    const [ev] = await events(org);
    expect(JSON.parse(ev!.data)).toEqual({ object: "delivery", id: "dlv_2", status: "delivered", batch_id: "bat_9" });
  });

  it("emits exception.opened from the statement that opens an exception, and only once per open exception", async () => {
    const org = uniqueOrg("exc");
    await createEndpoint(org);
    const { openExceptions } = await import("../src/exceptions/exceptions.open");
    const input = { org, kind: "delivery_failed", severity: "medium" as const, entityType: "delivery", entityId: "dlv_3", detail: "failed" };
    await openExceptions(env.DB, [input])!.run();
    await openExceptions(env.DB, [input])!.run();
    expect((await events(org)).map((e) => e.type)).toEqual(["exception.opened"]);
  });
});

describe("end to end", () => {
  it("delivers an audited state change to a subscribed endpoint through the queue, and lists the attempt", async () => {
    const org = uniqueOrg("e2e");
    const ep = await createEndpoint(org, { events: ["batch.approved"] });
    const got = receiver(ep.url);
    await appendAudit(env.DB, org, [
      { actor: "t", action: "batch.approved", entityType: "batch", entityId: "bat_e2e", after: { status: "approved" } },
      { actor: "t", action: "batch.released", entityType: "batch", entityId: "bat_e2e", after: { status: "releasing" } },
    ]);
    for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(got).toHaveLength(1);
    const payload = new Webhook(ep.secret).verify(got[0]!.body, got[0]!.headers) as any;
    expect(payload).toMatchObject({ type: "batch.approved", data: { object: "batch", id: "bat_e2e", status: "approved" } });
    expect(typeof payload.sequence).toBe("number");
    let list: { body: any } | undefined;
    for (let i = 0; i < 50; i++) {
      list = await callJson(`/v1/webhook-endpoints/${ep.id}/deliveries`, { token: await admin(org) });
      if (list.body.data[0]?.status === "delivered") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(list!.body.data).toHaveLength(1);
    expect(list!.body.data[0]).toMatchObject({ event_type: "batch.approved", status: "delivered", status_code: 200 });
  });
});

describe("replay", () => {
  it("retries one delivery and recovers every failed one since a time", async () => {
    const org = uniqueOrg("replay");
    const ep = await createEndpoint(org);
    const { env: e } = recordingQueue();
    const m1 = await dueMessage(org, ep.id);
    const m2 = await dueMessage(org, ep.id);
    await sendMessage(e, org, m1, { fetch: fakeFetch([410]).f });
    await env.DB.prepare("UPDATE webhook_messages SET status = 'failed' WHERE id = ?").bind(m2).run();
    const t = await admin(org);
    expect((await callJson(`/v1/webhook-deliveries/${m1}/retry`, { method: "POST", token: t })).status).toBe(409); // disabled by the 410
    await callJson(`/v1/webhook-endpoints/${ep.id}`, { method: "PATCH", token: t, body: { enabled: true } });
    receiver(ep.url);
    const retried = await callJson(`/v1/webhook-deliveries/${m1}/retry`, { method: "POST", token: t });
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(retried.body).toMatchObject({ id: m1, status: "delivered", attempt_count: 2 });
    const recovered = await callJson(`/v1/webhook-endpoints/${ep.id}/recover`, { token: t, body: { since: "2000-01-01T00:00:00Z" } });
    expect(recovered.status).toBe(202);
    expect(recovered.body.delivery_ids).toEqual([m2]);
    expect((await messageRow(m2))!.status).not.toBe("failed");
  });
});

describe("the OpenAPI document", () => {
  it("documents every event type as a webhook with its payload schema", async () => {
    const { body } = await callJson("/openapi.json");
    expect(Object.keys(body.webhooks)).toEqual(
      expect.arrayContaining(["batch.completed", "delivery.failed", "card.redeemed", "campaign.budget_low", "pool.low_balance", "ping"]),
    );
    expect(body.webhooks["batch.completed"].post.requestBody.content["application/json"].schema).toBeTruthy();
  });
});

describe("pool.low_balance", () => {
  it("fires when a pool's available balance is below its threshold, at most once per 24 h", async () => {
    const { createPool } = await import("./helpers/factories");
    const { emitLowBalances } = await import("../src/webhooks/low-balance");
    const org = uniqueOrg("low");
    await createEndpoint(org, { events: ["pool.low_balance"] });
    const pool: any = await createPool(org);
    const poolId = pool.id ?? pool;
    const set = await callJson(`/v1/pools/${poolId}/low-balance-alert`, {
      method: "PUT",
      token: await token({ org, roles: ["finance"] }),
      body: { threshold: 100 },
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    const now = new Date();
    await emitLowBalances(env, now);
    await emitLowBalances(env, new Date(now.getTime() + 3600_000));
    const count = () =>
      env.DB.prepare("SELECT count(*) AS n FROM webhook_events WHERE org = ? AND type = 'pool.low_balance'")
        .bind(org)
        .first<{ n: number }>()
        .then((r) => r!.n);
    expect(await count()).toBe(1);
    await emitLowBalances(env, new Date(now.getTime() + 25 * 3600_000));
    expect(await count()).toBe(2);
    const ev = await env.DB.prepare("SELECT data FROM webhook_events WHERE org = ? AND type = 'pool.low_balance'").bind(org).first<{ data: string }>();
    expect(JSON.parse(ev!.data)).toMatchObject({ object: "pool", id: poolId, available: expect.any(Number), threshold: 100 });
  });
});

describe("the sweep", () => {
  it("re-queues a delivery whose queue message was lost, but not one waiting behind an earlier one", async () => {
    const org = uniqueOrg("lost");
    const ep = await createEndpoint(org);
    const first = await dueMessage(org, ep.id, "bat_lost");
    const second = await dueMessage(org, ep.id, "bat_lost");
    const { env: e, sent } = recordingQueue();
    await sweepWebhooks(e, new Date());
    const ids = sent.map((m) => m.body.messageId);
    expect(ids).toContain(first);
    expect(ids).not.toContain(second);
  });
});
