import { env } from "cloudflare:workers";
import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import { call, token } from "./helpers/api";
import { approvalOrg, validatedBatch } from "./helpers/approval-factories";
import { interceptOutbound } from "./helpers/msw";

const server = interceptOutbound();
const ORIGIN = "https://rewards.example.test";
/** The Worker as deployed: a Resend key, production mode (no dev outbox), a public origin for links. */
const keyed = { ...env, RESEND_API_KEY: "re_test_key", ENVIRONMENT: "production", PUBLIC_BASE_URL: ORIGIN };

async function fetchKeyed(path: string, init: RequestInit) {
  const { default: worker } = await import("../src/index");
  return worker.fetch(new Request(`http://rewardrail.test${path}`, init), keyed, { waitUntil() {}, passThroughOnException() {} } as never);
}

type Sent = { to: string[]; subject: string; html: string; text: string; from: string };

describe("approval emails through Resend", () => {
  it("mails each approver a link to the page and tells the creator about a rejection", async () => {
    const { org, emails } = await approvalOrg();
    const { batchId, operator } = await validatedBatch(org, { amounts: [1234, 5000] });
    const sent: Sent[] = [];
    const keys: (string | null)[] = [];
    server.use(
      http.post("https://api.resend.com/emails/batch", async ({ request }) => {
        keys.push(request.headers.get("idempotency-key"));
        const body = (await request.json()) as Sent[];
        sent.push(...body);
        return HttpResponse.json({ data: body.map((_, i) => ({ id: `em_${i}` })) });
      }),
      http.post("https://api.resend.com/emails", async ({ request }) => {
        sent.push((await request.json()) as Sent);
        return HttpResponse.json({ id: "em_single" });
      }),
    );
    const submitted = await fetchKeyed(`/v1/batches/${batchId}/submit`, { method: "POST", headers: { authorization: `Bearer ${operator}` } });
    expect(submitted.status).toBe(200);
    expect(sent.map((m) => m.to).sort()).toEqual([[emails.fay], [emails.fran]]);
    expect(keys).toEqual([expect.stringContaining(batchId)]);
    const toFran = sent.find((m) => m.to[0] === emails.fran)!;
    expect(toFran.from).toBe(env.EMAIL_FROM);
    expect(toFran.subject).toBe("Approval needed: Holiday thanks (USD 62.34, 2 recipients)");
    for (const text of ["Holiday thanks", "holiday-2026", "Dana Owner", "CC-1001", "USD 62.34", "otto", "2 valid recipients; 10 expected"]) {
      expect(toFran.text).toContain(text);
      expect(toFran.html).toContain(text);
    }
    const link = /https:\/\/rewards\.example\.test\/approve\/[A-Za-z0-9_.-]+/.exec(toFran.text)?.[0];
    expect(link).toBeTruthy();
    expect(toFran.html).toContain(`href="${link}"`);

    const pageRes = await call(new URL(link!).pathname);
    expect(pageRes.status).toBe(200);
    expect(await pageRes.text()).toContain("Holiday thanks");

    sent.length = 0;
    const form = new URLSearchParams({ decision: "reject", comment: "amounts look off" });
    const rejected = await fetchKeyed(new URL(link!).pathname, {
      method: "POST",
      body: form,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(rejected.status).toBe(200);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ to: [emails.otto], subject: "Batch rejected: Holiday thanks" });
    expect(sent[0]!.text).toContain("amounts look off");
  });

  it("records a failed approval email without failing the submission", async () => {
    const { org } = await approvalOrg({ steps: [{ role: "owner", quorum: 1 }] });
    const { batchId, operator } = await validatedBatch(org);
    server.use(
      http.post("https://api.resend.com/emails", () => HttpResponse.json({ name: "application_error", message: "down", statusCode: 503 }, { status: 503 })),
    );
    const res = await fetchKeyed(`/v1/batches/${batchId}/submit`, { method: "POST", headers: { authorization: `Bearer ${operator}` } });
    expect(res.status).toBe(200);
    const auditor = await token({ org, sub: "aud", roles: ["auditor"] });
    const view = await (await call(`/v1/batches/${batchId}/approvals`, { token: auditor })).json<any>();
    expect(view.steps[0].requests).toMatchObject([{ approver_sub: "olga", email_status: "failed" }]);
    expect(view.trail.find((e: any) => e.action === "approval.email_failed")).toMatchObject({ details: { error_class: "transient" } });
  });
});
