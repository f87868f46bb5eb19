import { env } from "cloudflare:workers";
import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import { sendEmailBatch, type OutgoingEmail } from "../src/channels/email";
import { call, callJson } from "./helpers/api";
import { interceptOutbound } from "./helpers/msw";

const server = interceptOutbound();
const withKey = { ...env, RESEND_API_KEY: "re_test_key", ENVIRONMENT: "production" };
const email = (n: number): OutgoingEmail => ({
  org: "acme",
  to: `person${n}@example.com`,
  subject: `Hello ${n}`,
  html: `<p>${n}</p>`,
  text: `${n}`,
  idempotencyKey: `key-${n}`,
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
    expect(results).toEqual([
      { ok: true, providerMessageId: "em_1" },
      { ok: true, providerMessageId: "em_2" },
    ]);
    expect(seen?.key).toBe("batch-key-1");
    expect(seen?.auth).toBe("Bearer re_test_key");
    expect(seen?.body).toEqual([
      expect.objectContaining({ to: ["person1@example.com"], subject: "Hello 1", from: env.EMAIL_FROM }),
      expect.objectContaining({ to: ["person2@example.com"], subject: "Hello 2" }),
    ]);
  });

  it("fails only the email the provider refuses in a batch, and sends the others", async () => {
    let mode: string | null = null;
    server.use(
      http.post("https://api.resend.com/emails/batch", ({ request }) => {
        mode = request.headers.get("x-batch-validation");
        return HttpResponse.json({ data: [{ id: "em_a" }, { id: "em_c" }], errors: [{ index: 1, message: "The email address is on the suppression list" }] });
      }),
    );
    const results = await sendEmailBatch(withKey, [email(11), email(12), email(13)], "batch-key-2");
    expect(mode).toBe("permissive");
    expect(results).toEqual([
      { ok: true, providerMessageId: "em_a" },
      expect.objectContaining({ ok: false, errorClass: "data", status: 422, detail: expect.stringContaining("suppression list") }),
      { ok: true, providerMessageId: "em_c" },
    ]);
  });

  it("sends the emails of a batch the provider refused whole as bad data one by one, so the refusal lands on its own email", async () => {
    const single: { to: string; key: string | null }[] = [];
    server.use(
      http.post("https://api.resend.com/emails/batch", () =>
        HttpResponse.json({ name: "validation_error", message: "Invalid `to` field", statusCode: 422 }, { status: 422 }),
      ),
      http.post("https://api.resend.com/emails", async ({ request }) => {
        const body = (await request.json()) as { to: string[] };
        single.push({ to: body.to[0]!, key: request.headers.get("idempotency-key") });
        return body.to[0] === "person22@example.com"
          ? HttpResponse.json({ name: "validation_error", message: "Invalid `to` field", statusCode: 422 }, { status: 422 })
          : HttpResponse.json({ id: `em_${body.to[0]}` });
      }),
    );
    const results = await sendEmailBatch(withKey, [email(21), email(22), email(23)], "batch-key-3");
    expect(results).toEqual([
      { ok: true, providerMessageId: "em_person21@example.com" },
      expect.objectContaining({ ok: false, errorClass: "data", status: 422 }),
      { ok: true, providerMessageId: "em_person23@example.com" },
    ]);
    expect(single).toEqual([21, 22, 23].map((n) => ({ to: `person${n}@example.com`, key: `key-${n}` })));
  });

  it("fails every email of a batch alike when the whole call is rate limited (no one-by-one storm)", async () => {
    let singles = 0;
    server.use(
      http.post("https://api.resend.com/emails/batch", () =>
        HttpResponse.json({ name: "rate_limit_exceeded", message: "Too many requests", statusCode: 429 }, { status: 429, headers: { "retry-after": "2" } }),
      ),
      http.post("https://api.resend.com/emails", () => {
        singles++;
        return HttpResponse.json({ id: "em_x" });
      }),
    );
    const results = await sendEmailBatch(withKey, [email(31), email(32)], "batch-key-4");
    expect(results.map((r) => !r.ok && r.errorClass)).toEqual(["transient", "transient"]);
    expect(singles).toBe(0);
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
    server.use(
      http.post("https://api.resend.com/emails", () => HttpResponse.json({ name: "application_error", message: "boom", statusCode: 500 }, { status: 500 })),
    );
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
    const res = await worker.fetch(new Request("http://x/dev/outbox"), { ...env, ENVIRONMENT: "production" }, {
      waitUntil() {},
      passThroughOnException() {},
    } as never);
    expect(res.status).toBe(404);
    expect((await call("/dev/outbox")).status).toBe(200);
  });
});
