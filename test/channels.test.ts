import { env } from "cloudflare:workers";
import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import { sendEmailBatch, type OutgoingEmail } from "../src/channels/email";
import { call, callJson } from "./helpers/api";
import { interceptOutbound } from "./helpers/msw";

const server = interceptOutbound();
const withKey = { ...env, RESEND_API_KEY: "re_test_key", ENVIRONMENT: "production" };
const email = (n: number): OutgoingEmail => ({
  org: "acme", to: `person${n}@example.com`, subject: `Hello ${n}`, html: `<p>${n}</p>`, text: `${n}`, idempotencyKey: `key-${n}`,
});

describe("email through Resend", () => {
  it("sends a batch with the idempotency key and returns each provider id", async () => {
    let seen: { body: unknown; key: string | null; auth: string | null } | undefined;
    server.use(
      http.post("https://api.resend.com/emails/batch", async ({ request }) => {
        seen = { body: await request.json(), key: request.headers.get("idempotency-key"), auth: request.headers.get("authorization") };
        return HttpResponse.json({ data: [{ id: "em_1" }, { id: "em_2" }] });
      }),
    );
    const results = await sendEmailBatch(withKey, [email(1), email(2)], "batch-key-1");
    expect(results).toEqual([{ ok: true, providerMessageId: "em_1" }, { ok: true, providerMessageId: "em_2" }]);
    expect(seen?.key).toBe("batch-key-1");
    expect(seen?.auth).toBe("Bearer re_test_key");
    expect(seen?.body).toEqual([
      expect.objectContaining({ to: ["person1@example.com"], subject: "Hello 1", from: env.EMAIL_FROM }),
      expect.objectContaining({ to: ["person2@example.com"], subject: "Hello 2" }),
    ]);
  });

  it("classifies 429 with Retry-After as transient and keeps the delay", async () => {
    server.use(
      http.post("https://api.resend.com/emails", () =>
        HttpResponse.json({ name: "rate_limit_exceeded", message: "Too many requests", statusCode: 429 }, { status: 429, headers: { "retry-after": "7" } }),
      ),
    );
    const [r] = await sendEmailBatch(withKey, [email(3)], "k3");
    expect(r).toMatchObject({ ok: false, errorClass: "transient", status: 429, retryAfterSeconds: 7 });
  });

  it("classifies a 422 as a data error and a 500 as transient", async () => {
    server.use(
      http.post("https://api.resend.com/emails", () =>
        HttpResponse.json({ name: "validation_error", message: "Invalid `to` field", statusCode: 422 }, { status: 422 }),
      ),
    );
    expect((await sendEmailBatch(withKey, [email(4)], "k4"))[0]).toMatchObject({ ok: false, errorClass: "data", status: 422 });
    server.use(http.post("https://api.resend.com/emails", () => HttpResponse.json({ name: "application_error", message: "boom", statusCode: 500 }, { status: 500 })));
    expect((await sendEmailBatch(withKey, [email(5)], "k5"))[0]).toMatchObject({ ok: false, errorClass: "transient" });
  });

  it("classifies a network failure as transient", async () => {
    server.use(http.post("https://api.resend.com/emails", () => HttpResponse.error()));
    expect((await sendEmailBatch(withKey, [email(6)], "k6"))[0]).toMatchObject({ ok: false, errorClass: "transient", status: null });
  });

  it("holds for review when production has no provider key", async () => {
    const [r] = await sendEmailBatch({ ...env, RESEND_API_KEY: "", ENVIRONMENT: "production" }, [email(7)], "k7");
    expect(r).toMatchObject({ ok: false, errorClass: "policy" });
  });
});

describe("the dev outbox", () => {
  it("collects emails once per idempotency key and lists them newest first", async () => {
    const to = `dev-${crypto.randomUUID()}@example.com`;
    const msg = { ...email(8), to, links: ["http://localhost/approve/abc"], idempotencyKey: `dev-${to}` };
    const first = await sendEmailBatch(env, [msg], "x");
    const again = await sendEmailBatch(env, [msg], "x");
    expect(first[0]).toMatchObject({ ok: true });
    expect(again).toEqual(first);
    const { status, body } = await callJson(`/dev/outbox?to=${encodeURIComponent(to)}`);
    expect(status).toBe(200);
    expect(body.data).toHaveLength(1);
    expect(body.data[0]).toMatchObject({ to, channel: "email", subject: "Hello 8", links: ["http://localhost/approve/abc"] });
  });

  it("is not served in production", async () => {
    const { default: worker } = await import("../src/index");
    const res = await worker.fetch(new Request("http://x/dev/outbox"), { ...env, ENVIRONMENT: "production" }, { waitUntil() {}, passThroughOnException() {} } as never);
    expect(res.status).toBe(404);
    expect((await call("/dev/outbox")).status).toBe(200);
  });
});
