/**
 * The approval flow in a real browser: fran enrols herself as a finance approver with her own token,
 * headless Debian Chromium (playwright-core) opens the verification link she was emailed (read from
 * the dev outbox of a Worker served by `wrangler dev`) and confirms it; then it opens the approval
 * link she is emailed for a batch, checks what the page shows, clicks Approve, and the API then
 * reports the batch approved.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "./dev-server";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const OUTPUT = path.resolve(import.meta.dirname, "../../test-output");

let server: DevServer;
let browser: Browser;

beforeAll(async () => {
  server = await startDevServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function api(pathname: string, token: string, init: { method?: string; body?: unknown; headers?: Record<string, string>; raw?: string } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...init.headers };
  if (init.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${server.url}${pathname}`, {
    method: init.method ?? (init.body !== undefined || init.raw !== undefined ? "POST" : "GET"),
    headers,
    body: init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
  });
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBeLessThan(300);
  return body as any;
}

/** The links of the newest dev-outbox message to `to` that carries one containing `kind` (`/verify/`, `/approve/`). */
async function outboxLink(to: string, kind: string): Promise<string | undefined> {
  const outbox = await (await fetch(`${server.url}/dev/outbox?to=${encodeURIComponent(to)}`)).json();
  return (outbox.data as { links: string[] }[]).flatMap((m) => m.links).find((l) => l.includes(kind));
}

/** A one-step finance policy, a funded pool, a product and a validated batch submitted by the operator. */
async function submittedBatch(org: string) {
  const [admin, finance, operator] = await Promise.all([
    server.token({ org, sub: "ada", roles: ["admin"] }),
    server.token({ org, sub: "fran", roles: ["finance"] }),
    server.token({ org, sub: "otto", roles: ["operator"] }),
  ]);
  await api("/v1/settings", admin, { method: "PUT", body: { approval_policy: { steps: [{ role: "finance", quorum: 1 }] } } });
  const pool = await api("/v1/pools", finance, { body: { name: "Q4 rewards", currency: "USD" } });
  await api(`/v1/pools/${pool.id}/fund`, finance, { body: { amount: 500_000, reference: "e2e" } });
  const product = await api("/v1/products", admin, {
    body: { name: "Gift card", kind: "inventory", currency: "USD", min_amount: 500, max_amount: 50_000, countries: ["US"] },
  });
  const batch = await api("/v1/batches", operator, {
    body: {
      name: "Browser-approved thanks",
      campaign: "e2e-2026",
      business_owner: "Dana Owner",
      cost_center: "CC-42",
      expected_delivery_date: "2026-12-20",
      expected_count: 3,
      pool_id: pool.id,
      product_id: product.id,
      channel: "email",
      release_at: new Date(Date.now() + 86_400_000).toISOString(),
    },
  });
  const csv = "external_id,email,country,amount\nE1,a@example.com,US,2500\nE2,b@example.com,US,2500\nE3,c@example.com,US,7000\n";
  await api(`/v1/batches/${batch.id}/recipients`, operator, { raw: csv, headers: { "content-type": "text/csv" } });
  await api(`/v1/batches/${batch.id}/submit`, operator, { method: "POST" });
  return { batchId: batch.id as string, finance, operator };
}

describe("approving in a browser", () => {
  it("enrols fran, confirms her address in the browser, then she approves a batch by link with one click", async () => {
    const org = `e2e-${Date.now()}`;
    const fran = await server.token({ org, sub: "fran", roles: ["finance"] });
    const enrolled = await api("/v1/approvers/enrol", fran, { body: { email: "fran@example.com" } });
    expect(enrolled).toMatchObject({ sub: "fran", roles: ["finance"], status: "pending" });
    const verify = await outboxLink("fran@example.com", "/verify/");
    expect(verify?.startsWith(`${server.url}/verify/`)).toBe(true);

    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    const page = await context.newPage();
    const opened = await page.goto(verify!);
    expect(opened?.status()).toBe(200);
    expect(opened?.headers()["referrer-policy"]).toBe("no-referrer");
    const enrolment = await page.locator("#enrolment").innerText();
    for (const text of ["fran", "fran@example.com", "finance", org]) expect(enrolment).toContain(text);
    expect((await api("/v1/approvers", fran)).data[0].status).toBe("pending"); // opening changed nothing
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: path.join(OUTPUT, "verify-page.png"), fullPage: true });
    await Promise.all([page.waitForURL(verify!), page.getByRole("button", { name: "Confirm" }).click()]);
    await expect.poll(() => page.locator("#outcome").innerText()).toBe("Enrolment confirmed");
    expect((await api("/v1/approvers", fran)).data[0]).toMatchObject({ sub: "fran", status: "active", email: "fran@example.com" });

    const { batchId, finance } = await submittedBatch(org);
    const link = await outboxLink("fran@example.com", "/approve/");
    expect(link?.startsWith(`${server.url}/approve/`)).toBe(true);

    const response = await page.goto(link!);
    expect(response?.status()).toBe(200);
    expect(response?.headers()["referrer-policy"]).toBe("no-referrer");
    const summary = await page.locator("#summary").innerText();
    for (const text of ["Browser-approved thanks", "e2e-2026", "Dana Owner", "CC-42", "3", "USD 120.00", "otto"]) expect(summary).toContain(text);
    expect(await page.locator("#step").innerText()).toContain("Step 1 of 1");
    expect(await page.locator("#anomalies").innerText()).toContain("Anomalies");
    await page.screenshot({ path: path.join(OUTPUT, "approval-page.png"), fullPage: true });

    await page.fill("#comment", "Looks right");
    await Promise.all([page.waitForURL(link!), page.getByRole("button", { name: "Approve" }).click()]);
    await expect.poll(() => page.locator("#outcome").innerText()).toBe("Batch approved");
    await page.screenshot({ path: path.join(OUTPUT, "approval-result.png"), fullPage: true });
    await context.close();

    const batch = await api(`/v1/batches/${batchId}`, finance);
    expect(batch.status).toBe("approved");
    const approvals = await api(`/v1/batches/${batchId}/approvals`, finance);
    expect(approvals.steps[0].decisions).toMatchObject([{ approver_sub: "fran", decision: "approve", comment: "Looks right", via: "link" }]);
  });
});
