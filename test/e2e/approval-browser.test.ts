/**
 * The approval flow in a real browser: headless Debian Chromium (playwright-core) opens the link an
 * approver was emailed (read from the dev outbox of a Worker served by `wrangler dev`), checks what
 * the page shows, clicks Approve, and the API then reports the batch approved.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "./dev-server";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
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

/** Settings with one finance approver, a funded pool, a product and a validated batch submitted by the operator. */
async function submittedBatch(org: string) {
  const [admin, finance, operator] = await Promise.all([
    server.token({ org, sub: "ada", roles: ["admin"] }),
    server.token({ org, sub: "fran", roles: ["finance"] }),
    server.token({ org, sub: "otto", roles: ["operator"] }),
  ]);
  await api("/v1/settings", admin, {
    method: "PUT",
    body: { approval_policy: { steps: [{ role: "finance", quorum: 1 }] }, approvers: [{ sub: "fran", email: "fran@example.com", roles: ["finance"] }] },
  });
  const pool = await api("/v1/pools", finance, { body: { name: "Q4 rewards", currency: "USD" } });
  await api(`/v1/pools/${pool.id}/fund`, finance, { body: { amount: 500_000, reference: "e2e" } });
  const product = await api("/v1/products", admin, { body: { name: "Gift card", kind: "inventory", currency: "USD", min_amount: 500, max_amount: 50_000, countries: ["US"] } });
  const batch = await api("/v1/batches", operator, {
    body: {
      name: "Browser-approved thanks", campaign: "e2e-2026", business_owner: "Dana Owner", cost_center: "CC-42", expected_delivery_date: "2026-12-20",
      expected_count: 3, pool_id: pool.id, product_id: product.id, channel: "email", release_at: new Date(Date.now() + 86_400_000).toISOString(),
    },
  });
  const csv = "external_id,email,country,amount\nE1,a@example.com,US,2500\nE2,b@example.com,US,2500\nE3,c@example.com,US,7000\n";
  await api(`/v1/batches/${batch.id}/recipients`, operator, { raw: csv, headers: { "content-type": "text/csv" } });
  await api(`/v1/batches/${batch.id}/submit`, operator, { method: "POST" });
  return { batchId: batch.id as string, finance, operator };
}

describe("approving in a browser", () => {
  it("opens the emailed link, shows the batch, approves with one click, and the API sees it approved", async () => {
    const { batchId, finance } = await submittedBatch(`e2e-${Date.now()}`);
    const outbox = await (await fetch(`${server.url}/dev/outbox?to=fran@example.com`)).json();
    const link = (outbox.data as { links: string[] }[]).flatMap((m) => m.links).find((l) => l.includes("/approve/"));
    expect(link?.startsWith(`${server.url}/approve/`)).toBe(true);

    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    const page = await context.newPage();
    const response = await page.goto(link!);
    expect(response?.status()).toBe(200);
    expect(response?.headers()["referrer-policy"]).toBe("no-referrer");
    const summary = await page.locator("#summary").innerText();
    for (const text of ["Browser-approved thanks", "e2e-2026", "Dana Owner", "CC-42", "3", "USD 120.00", "otto"]) expect(summary).toContain(text);
    expect(await page.locator("#step").innerText()).toContain("Step 1 of 1");
    expect(await page.locator("#anomalies").innerText()).toContain("Anomalies");
    mkdirSync(OUTPUT, { recursive: true });
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
