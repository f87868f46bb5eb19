/**
 * Webhook delivery rules beyond the basics (webhooks.test.ts): runs of many messages (order per
 * entity, one record per run), the endpoint breaker, which answers retry, Retry-After, events kept
 * for a disabled endpoint and recovered, recover's failed-only rule, campaign.budget_low, and the
 * SSRF guard's numeric forms and DNS-over-HTTPS look-up.
 */
import { env } from "cloudflare:workers";
import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import { appendAudit } from "../src/audit/audit";
import { AppError } from "../src/core/errors";
import type { Env } from "../src/env";
import { consumeWebhooks } from "../src/queues/webhooks.consumer";
import { dispatchOrg } from "../src/webhooks/dispatch";
import { checkResolvedHost } from "../src/webhooks/dns-guard";
import { guardUrl } from "../src/webhooks/endpoints.service";
import { sendMessage, sendMessages } from "../src/webhooks/send";
import { activeCampaign, campaignSetup, orderPaid, postEvent } from "./helpers/campaign-factories";
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

/** A fake receiver for direct sends: answers from `answer(request)` (default 200), recording every request. */
function fakeFetch(answer: (body: any, n: number) => { status: number; headers?: Record<string, string> } = () => ({ status: 200 })) {
  const bodies: any[] = [];
  const f = (async (_input: RequestInfo | URL, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body));
    bodies.push(body);
    await new Promise((r) => setTimeout(r, 5));
    const { status, headers } = answer(body, bodies.length);
    return new Response(status === 200 ? "ok" : "no", { status, headers });
  }) as typeof fetch;
  return { f, bodies };
}

const admin = (org: string) => token({ org, sub: "ada", roles: ["admin"] });

async function createEndpoint(org: string, body: Record<string, unknown> = {}) {
  const res = await callJson("/v1/webhook-endpoints", {
    token: await admin(org),
    body: { url: `https://hooks.example.com/${org}/${crypto.randomUUID().slice(0, 6)}`, events: ["*"], ...body },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; secret: string; url: string };
}

const row = (id: string) =>
  env.DB.prepare("SELECT status, attempts, next_attempt_at, lease_until, last_error FROM webhook_messages WHERE id = ?")
    .bind(id)
    .first<{ status: string; attempts: number; next_attempt_at: string; lease_until: string | null; last_error: string | null }>();
const attemptCount = (id: string) =>
  env.DB.prepare("SELECT count(*) AS n FROM webhook_attempts WHERE message_id = ?")
    .bind(id)
    .first<{ n: number }>()
    .then((r) => r!.n);
const endpointRow = (id: string) =>
  env.DB.prepare("SELECT enabled, failing_since, breaker_until FROM webhook_endpoints WHERE id = ?")
    .bind(id)
    .first<{ enabled: number; failing_since: string | null; breaker_until: string | null }>();

describe("a run of many messages", () => {
  it("sends one entity's messages in sequence order, others alongside, and records each once", async () => {
    const org = uniqueOrg("run");
    const ep = await createEndpoint(org);
    const a1 = await dueMessage(org, ep.id, "bat_a", "batch.submitted");
    const a2 = await dueMessage(org, ep.id, "bat_a", "batch.approved");
    const a3 = await dueMessage(org, ep.id, "bat_a", "batch.released");
    const b1 = await dueMessage(org, ep.id, "bat_b", "batch.submitted");
    const { env: e } = recordingQueue();
    const { f, bodies } = fakeFetch();
    const out = await sendMessages(e, org, [a3, b1, a1, a2], { fetch: f });
    expect([...out.values()].map((o) => o.kind)).toEqual(["delivered", "delivered", "delivered", "delivered"]);
    const aTypes = bodies.filter((b) => b.data.id === "bat_a").map((b) => b.type);
    expect(aTypes).toEqual(["batch.submitted", "batch.approved", "batch.released"]);
    const seqs = bodies.filter((b) => b.data.id === "bat_a").map((b) => b.sequence);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    for (const id of [a1, a2, a3, b1]) {
      expect(await row(id)).toMatchObject({ status: "delivered", attempts: 1, lease_until: null });
      expect(await attemptCount(id)).toBe(1);
    }
    // A second run of the same ids sends nothing again.
    const again = fakeFetch();
    await sendMessages(e, org, [a1, a2, a3, b1], { fetch: again.f });
    expect(again.bodies).toEqual([]);
  });

  it("stops an entity's chain at a retry: the later messages wait and are queued when it ends", async () => {
    const org = uniqueOrg("chain");
    const ep = await createEndpoint(org);
    const first = await dueMessage(org, ep.id, "bat_c", "batch.submitted");
    const second = await dueMessage(org, ep.id, "bat_c", "batch.approved");
    const { env: e, sent } = recordingQueue();
    const now = new Date("2031-05-01T00:00:00Z");
    const out = await sendMessages(e, org, [first, second], { now, fetch: fakeFetch(() => ({ status: 500 })).f });
    expect(out.get(first)).toMatchObject({ kind: "retry", delayS: 5 });
    expect(out.get(second)).toMatchObject({ kind: "skipped", reason: "waiting" });
    expect(await row(second)).toMatchObject({ status: "pending", attempts: 0, lease_until: null });
    sent.length = 0;
    await sendMessage(e, org, first, { now: new Date(now.getTime() + 6000), fetch: fakeFetch().f });
    expect(sent.map((m) => m.body.messageId)).toEqual([second]);
  });
});

describe("the endpoint breaker", () => {
  it("puts off an endpoint's other messages without attempts after a failure, leaves other endpoints alone, and probes once it closes", async () => {
    const org = uniqueOrg("breaker");
    const dead = await createEndpoint(org);
    const live = await createEndpoint(org);
    const { env: e, sent } = recordingQueue();
    const now = new Date("2031-06-01T00:00:00Z");
    const m1 = await dueMessage(org, dead.id, "bat_1");
    expect((await sendMessage(e, org, m1, { now, fetch: fakeFetch(() => ({ status: 503 })).f })).kind).toBe("retry");
    expect(await endpointRow(dead.id)).toMatchObject({ failing_since: now.toISOString(), breaker_until: "2031-06-01T00:00:05.000Z" });

    const m2 = await dueMessage(org, dead.id, "bat_2");
    const m3 = await dueMessage(org, dead.id, "bat_3");
    const other = await dueMessage(org, live.id, "bat_2");
    sent.length = 0;
    const calls = fakeFetch();
    const out = await sendMessages(e, org, [m2, m3, other], { now: new Date(now.getTime() + 1000), fetch: calls.f });
    expect(out.get(m2)).toMatchObject({ kind: "skipped", reason: "deferred", delayS: 4 });
    expect(out.get(m3)).toMatchObject({ kind: "skipped", reason: "deferred" });
    expect(out.get(other)!.kind).toBe("delivered");
    expect(calls.bodies).toHaveLength(1);
    expect(await attemptCount(m2)).toBe(0);
    expect(await row(m2)).toMatchObject({ status: "pending", attempts: 0, lease_until: null });
    expect(sent).toContainEqual({ body: { type: "webhook_send", org, endpointId: dead.id, messageIds: [m2, m3] }, contentType: "json", delaySeconds: 4 });

    // Half-open: one probe goes first; it fails, so the other is put off again.
    const probe = fakeFetch(() => ({ status: 503 }));
    const half = await sendMessages(e, org, [m2, m3], { now: new Date(now.getTime() + 6000), fetch: probe.f });
    expect(probe.bodies).toHaveLength(1);
    expect([half.get(m2)!.kind, half.get(m3)!.kind].sort()).toEqual(["retry", "skipped"]);

    // Closed again by a probe that gets through: the rest follow in the same run, and the clock is cleared.
    const ok = fakeFetch();
    const later = new Date(now.getTime() + 20 * 60_000);
    const closed = await sendMessages(e, org, [m2, m3, m1], { now: later, fetch: ok.f });
    expect([...closed.values()].every((o) => o.kind === "delivered")).toBe(true);
    expect(await endpointRow(dead.id)).toMatchObject({ enabled: 1, failing_since: null, breaker_until: null });
  });

  it("lets the consumer put off a group of an endpoint whose breaker is open without reading its messages", async () => {
    const org = uniqueOrg("putoff");
    const ep = await createEndpoint(org);
    const until = new Date(Date.now() + 60_000).toISOString();
    await env.DB.prepare("UPDATE webhook_endpoints SET failing_since = ?1, breaker_until = ?1 WHERE id = ?2").bind(until, ep.id).run();
    const { env: e, sent } = recordingQueue();
    const acked: string[] = [];
    const body = { type: "webhook_send", org, endpointId: ep.id, messageIds: ["whd_not_read_1", "whd_not_read_2"] };
    const batch = {
      queue: "rewardrail-webhooks",
      messages: [{ id: "q1", body, attempts: 1, timestamp: new Date(), ack: () => acked.push("q1"), retry: () => {} }],
    } as unknown as MessageBatch<unknown>;
    await consumeWebhooks(batch, e);
    expect(acked).toEqual(["q1"]);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.body).toEqual(body);
    expect(sent[0]!.delaySeconds).toBeGreaterThanOrEqual(59);
  });
});

describe("which answers are retried", () => {
  it.each([
    [404, "HTTP 404"],
    [400, "HTTP 400"],
    [401, "HTTP 401"],
    [301, "redirect 301 not followed"],
    [308, "redirect 308 not followed"],
    [500, "HTTP 500"],
    [429, "HTTP 429"],
  ])("retries a %i on the schedule and keeps the endpoint enabled", async (status, error) => {
    const org = uniqueOrg("class");
    const ep = await createEndpoint(org);
    const id = await dueMessage(org, ep.id, "bat_x");
    const { env: e } = recordingQueue();
    const headers: Record<string, string> = status >= 300 && status < 400 ? { location: "https://elsewhere.example.com/" } : {};
    const { f, bodies } = fakeFetch(() => ({ status, headers }));
    const out = await sendMessage(e, org, id, { now: new Date("2031-07-01T00:00:00Z"), fetch: f });
    expect(out).toMatchObject({ kind: "retry", statusCode: status, error, delayS: 5 });
    expect(bodies).toHaveLength(1); // a redirect is not followed
    expect((await endpointRow(ep.id))!.enabled).toBe(1);
  });

  it("fails for good on 410 without a retry", async () => {
    const org = uniqueOrg("class");
    const ep = await createEndpoint(org);
    const id = await dueMessage(org, ep.id, "bat_x");
    const { env: e, sent } = recordingQueue();
    const out = await sendMessage(e, org, id, { fetch: fakeFetch(() => ({ status: 410 })).f });
    expect(out.kind).toBe("failed");
    expect(sent.filter((m) => m.body.messageId === id)).toEqual([]);
    expect((await endpointRow(ep.id))!.enabled).toBe(0);
  });

  it("honours Retry-After as seconds or an HTTP date, for the message and the endpoint, never earlier than the schedule and at most a day", async () => {
    const org = uniqueOrg("ra");
    const ep = await createEndpoint(org);
    const now = new Date("2031-08-01T00:00:00Z");
    const { env: e, sent } = recordingQueue();
    const dated = await dueMessage(org, ep.id, "bat_1");
    const inTenMinutes = new Date(now.getTime() + 600_000).toUTCString();
    const out = await sendMessage(e, org, dated, { now, fetch: fakeFetch(() => ({ status: 503, headers: { "retry-after": inTenMinutes } })).f });
    expect(out).toMatchObject({ kind: "retry", delayS: 600 });
    expect(await row(dated)).toMatchObject({ next_attempt_at: "2031-08-01T00:10:00.000Z" });
    expect(sent.find((m) => m.body.messageId === dated)?.delaySeconds).toBe(600);
    expect((await endpointRow(ep.id))!.breaker_until).toBe("2031-08-01T00:10:00.000Z");

    const long = await dueMessage(org, ep.id, "bat_2");
    const t2 = new Date(now.getTime() + 601_000);
    const capped = await sendMessage(e, org, long, { now: t2, fetch: fakeFetch(() => ({ status: 429, headers: { "retry-after": String(3 * 86400) } })).f });
    expect(capped).toMatchObject({ kind: "retry", delayS: 86400 });

    const short = await dueMessage(org, ep.id, "bat_3");
    const t3 = new Date(t2.getTime() + 86_401_000);
    await sendMessage(e, org, short, { now: t3, fetch: fakeFetch(() => ({ status: 503 })).f });
    const t4 = new Date(t3.getTime() + 301_000);
    const kept = await sendMessage(e, org, short, { now: t4, fetch: fakeFetch(() => ({ status: 503, headers: { "retry-after": "1" } })).f });
    expect(kept).toMatchObject({ kind: "retry", delayS: 300 }); // the schedule's third wait; Retry-After never shortens it
  });
});

describe("an endpoint that is disabled", () => {
  it("keeps the events that happen meanwhile as failed deliveries with no attempt, and recover sends them once it is enabled", async () => {
    const org = uniqueOrg("disabled");
    const ep = await createEndpoint(org, { events: ["batch.approved"] });
    const t = await admin(org);
    await callJson(`/v1/webhook-endpoints/${ep.id}`, { method: "PATCH", token: t, body: { enabled: false } });
    const before = new Date(Date.now() - 1000).toISOString();
    await appendAudit(env.DB, org, [{ actor: "t", action: "batch.approved", entityType: "batch", entityId: "bat_off", after: { status: "approved" } }]);
    const { env: e, sent } = recordingQueue();
    expect(await dispatchOrg(e, org)).toBe(1);
    expect(sent).toEqual([]); // nothing is queued for a disabled endpoint
    const list = await callJson(`/v1/webhook-endpoints/${ep.id}/deliveries`, { token: t });
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0]).toMatchObject({ status: "failed", attempt_count: 0, attempts: [], last_error: "endpoint disabled: disabled by an admin" });
    const id = list.body.data[0].id;

    expect((await callJson(`/v1/webhook-endpoints/${ep.id}/recover`, { token: t, body: { since: before } })).status).toBe(409);
    await callJson(`/v1/webhook-endpoints/${ep.id}`, { method: "PATCH", token: t, body: { enabled: true } });
    const recovered = await callJson(`/v1/webhook-endpoints/${ep.id}/recover`, { token: t, body: { since: before } });
    expect(recovered.status).toBe(202);
    expect(recovered.body.delivery_ids).toEqual([id]);
    const { f, bodies } = fakeFetch();
    expect((await sendMessage(e, org, id, { fetch: f })).kind).toBe("delivered");
    expect(bodies[0]).toMatchObject({ type: "batch.approved", data: { id: "bat_off" } });
  });

  it("fails a queued delivery whose endpoint was disabled before it was sent, without an attempt", async () => {
    const org = uniqueOrg("disabled");
    const ep = await createEndpoint(org);
    const id = await dueMessage(org, ep.id, "bat_q");
    await callJson(`/v1/webhook-endpoints/${ep.id}`, { method: "PATCH", token: await admin(org), body: { enabled: false } });
    const { env: e } = recordingQueue();
    const { f, bodies } = fakeFetch();
    expect((await sendMessage(e, org, id, { fetch: f })).kind).toBe("failed");
    expect(bodies).toEqual([]);
    expect(await attemptCount(id)).toBe(0);
    expect((await row(id))!.last_error).toMatch(/endpoint disabled/);
  });
});

describe("recover", () => {
  it("resends only failed deliveries since the time given (an offset is understood), leaving delivered and pending ones alone", async () => {
    const org = uniqueOrg("recover");
    const ep = await createEndpoint(org);
    const { env: e } = recordingQueue();
    const delivered = await dueMessage(org, ep.id, "bat_d");
    await sendMessage(e, org, delivered, { fetch: fakeFetch().f });
    const failed = await dueMessage(org, ep.id, "bat_f");
    const pending = await dueMessage(org, ep.id, "bat_p");
    await env.DB.prepare("UPDATE webhook_messages SET status = 'failed', attempts = 10, created_at = ? WHERE id = ?")
      .bind(new Date().toISOString(), failed)
      .run();
    await env.DB.prepare("UPDATE webhook_messages SET created_at = ? WHERE id IN (?, ?)").bind(new Date().toISOString(), delivered, pending).run();
    const since = new Date(Date.now() - 3600_000);
    const withOffset = `${new Date(since.getTime() + 2 * 3600_000).toISOString().slice(0, 19)}+02:00`;
    const res = await callJson(`/v1/webhook-endpoints/${ep.id}/recover`, { token: await admin(org), body: { since: withOffset } });
    expect(res.status).toBe(202);
    expect(res.body.delivery_ids).toEqual([failed]);
    expect(await row(failed)).toMatchObject({ status: "pending", attempts: 0 });
    expect((await row(delivered))!.status).toBe("delivered");
    const later = await callJson(`/v1/webhook-endpoints/${ep.id}/recover`, {
      token: await admin(org),
      body: { since: new Date(Date.now() + 60_000).toISOString() },
    });
    expect(later.body.recovered).toBe(0);
  });
});

describe("campaign.budget_low", () => {
  it("fires once when committed crosses 80 % of the pause threshold, before campaign.paused", async () => {
    const org = uniqueOrg("budgetlow");
    const setup = await campaignSetup(org);
    await createEndpoint(org, { events: ["campaign.budget_low", "campaign.paused"] });
    // Budget 5,000 pausing at 100 %: the mark is 4,000, crossed by the 4th reward of 1,000.
    const id = await activeCampaign(setup, { budget: { amount: 5000 } });
    const count = async () =>
      env.DB.prepare("SELECT type, data FROM webhook_events WHERE org = ? AND entity_id = ? ORDER BY seq")
        .bind(org, id)
        .all<{ type: string; data: string }>()
        .then((r) => r.results);
    for (let i = 0; i < 3; i++) expect((await postEvent(setup.tokens.integrator, orderPaid())).status).toBeLessThan(300);
    expect((await count()).filter((e) => e.type === "campaign.budget_low")).toEqual([]);
    await postEvent(setup.tokens.integrator, orderPaid());
    await postEvent(setup.tokens.integrator, orderPaid());
    const events = (await count()).filter((e) => e.type !== "campaign.activated");
    expect(events.map((e) => e.type)).toEqual(["campaign.budget_low", "campaign.paused"]);
    expect(JSON.parse(events[0]!.data)).toMatchObject({
      object: "campaign",
      id,
      campaign_id: id,
      committed: 4000,
      threshold: 4000,
      budget: 5000,
      remaining: 1000,
      currency: "USD",
    });
  });
});

describe("the SSRF guard", () => {
  const MORE_REFUSED = [
    "https://0/x",
    "https://127.000.000.001/x",
    "https://0x7f000001/x",
    "https://0177.0.0.1/x",
    "https://3232235777/x", // 192.168.1.1
    "https://0xa9.0xfe.0xa9.0xfe/x", // 169.254.169.254
    "https://10.0.0.1./x",
    "https://[0:0:0:0:0:ffff:127.0.0.1]/x",
    "https://[::ffff:10.0.0.1]/x",
    "https://[::127.0.0.1]/x",
    "https://[64:ff9b::a9fe:a9fe]/x",
    "https://[2002:7f00:1::]/x",
    "https://[2001:0:4136:e378::1]/x",
    "https://[ff02::1]/x",
    "https://[fc00::1]/x",
    "https://[febf::1]/x",
    "https://１２７.０.０.１/x",
    "https://instance-data/latest",
    "https://printer.local/x",
  ];
  it.each(MORE_REFUSED)("refuses %s", async (url) => {
    const res = await callJson("/v1/webhook-endpoints", { token: await admin(uniqueOrg("ssrf")), body: { url, events: ["*"] } });
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatchObject({ pointer: "/url", code: "url_not_allowed" });
  });

  it.each(["https://8.8.8.8/x", "https://[2606:4700:4700::1111]/x", "https://hooks.example.com/x"])("accepts the public %s", async (url) => {
    const res = await callJson("/v1/webhook-endpoints", { token: await admin(uniqueOrg("ssrf")), body: { url, events: ["*"] } });
    expect(res.status).toBe(201);
  });

  /** A fake DNS-over-HTTPS resolver: name → records, at the HTTP boundary. */
  function resolver(records: Record<string, { A?: string[]; AAAA?: string[] } | "nxdomain" | "down">) {
    const asked: string[] = [];
    server.use(
      http.get("https://cloudflare-dns.com/dns-query", ({ request }) => {
        const u = new URL(request.url);
        const name = u.searchParams.get("name")!;
        const type = u.searchParams.get("type") as "A" | "AAAA";
        asked.push(`${name}/${type}/${request.headers.get("accept")}`);
        const r = records[name];
        if (r === "down") return new HttpResponse("oops", { status: 502 });
        if (!r || r === "nxdomain") return HttpResponse.json({ Status: 3 });
        const data = r[type] ?? [];
        return HttpResponse.json({ Status: 0, Answer: data.map((d) => ({ name, type: type === "A" ? 1 : 28, data: d })) });
      }),
    );
    return asked;
  }
  const production = { ...env, ENVIRONMENT: "production" } as Env;

  it("refuses in production a name that resolves to a private or loopback address (A or AAAA), or does not resolve", async () => {
    const asked = resolver({
      "inside.example.com": { A: ["10.1.2.3"] },
      "loop6.example.com": { A: ["93.184.216.34"], AAAA: ["::1"] },
      "meta.example.com": { A: ["169.254.169.254"] },
      "fine.example.com": { A: ["93.184.216.34"], AAAA: ["2606:2800:220:1::"] },
    });
    for (const host of ["inside.example.com", "loop6.example.com", "meta.example.com", "nowhere.example.com"]) {
      const err = await guardUrl(production, `https://${host}/hook`).catch((e) => e);
      expect(err, host).toBeInstanceOf(AppError);
      expect(err.extra.errors[0]).toMatchObject({ pointer: "/url", code: "url_not_allowed" });
    }
    expect(await guardUrl(production, "https://fine.example.com/hook")).toBe("https://fine.example.com/hook");
    expect(asked).toContain("fine.example.com/A/application/dns-json");
    expect(asked).toContain("fine.example.com/AAAA/application/dns-json");
  });

  it("does not look names up outside production, and lets registration through when the resolver is down", async () => {
    const asked = resolver({ "down.example.com": "down" });
    expect(await checkResolvedHost(new URL("https://inside.example.com/"), "test")).toEqual({ ok: true });
    expect(asked).toEqual([]);
    expect(await guardUrl(production, "https://down.example.com/hook")).toBe("https://down.example.com/hook");
    expect(await checkResolvedHost(new URL("https://down.example.com/"), "production")).toMatchObject({ ok: false, unavailable: true });
  });

  it("checks again before sending: a name repointed to a private address fails without a request; a resolver that is down means a retry", async () => {
    const org = uniqueOrg("rebind");
    const ep = await createEndpoint(org);
    const host = new URL(ep.url).hostname;
    const { env: e } = recordingQueue();
    const penv = { ...e, ENVIRONMENT: "production" } as Env;
    resolver({ [host]: { A: ["127.0.0.1"] } });
    const blocked = await dueMessage(org, ep.id, "bat_r1");
    const { f, bodies } = fakeFetch();
    const out = await sendMessage(penv, org, blocked, { fetch: f });
    expect(out).toMatchObject({ kind: "failed", error: expect.stringMatching(/^url_not_allowed: .*127\.0\.0\.1/) });
    expect(bodies).toEqual([]);
    server.resetHandlers();
    resolver({ [host]: "down" });
    await env.DB.prepare("UPDATE webhook_endpoints SET failing_since = NULL, breaker_until = NULL WHERE id = ?").bind(ep.id).run();
    const later = await dueMessage(org, ep.id, "bat_r2");
    expect(await sendMessage(penv, org, later, { fetch: f })).toMatchObject({ kind: "retry", error: expect.stringMatching(/could not resolve/) });
    expect(bodies).toEqual([]);
  });
});
