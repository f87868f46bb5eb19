/**
 * Webhooks on the real delivery pipeline: a batch delivered by the queue consumers emits one
 * delivery.delivered per delivery and one batch.completed, signed, with no code or claim link.
 */
import { env } from "cloudflare:workers";
import { http, HttpResponse } from "msw";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { releasedBatch, waitForBatch } from "./helpers/delivery-factories";
import { interceptOutbound } from "./helpers/msw";

const server = interceptOutbound();

describe("webhooks on the delivery pipeline", () => {
  it("sends every delivery.delivered and the batch.completed of a delivered batch, without codes or claim links", async () => {
    const org = uniqueOrg("whflow");
    const url = `https://hooks.example.com/${org}`;
    const got: { headers: Record<string, string>; body: string }[] = [];
    server.use(
      http.post(url, async ({ request }) => {
        got.push({ headers: Object.fromEntries(request.headers), body: await request.text() });
        return new HttpResponse(null, { status: 204 });
      }),
    );
    const created = await callJson("/v1/webhook-endpoints", {
      token: await token({ org, roles: ["admin"] }),
      body: { url, events: ["delivery.delivered", "batch.completed"] },
    });
    expect(created.status).toBe(201);
    const { batchId, n } = await releasedBatch(org, { recipients: 5 });
    await waitForBatch(batchId, ["completed"]);
    for (let i = 0; i < 100 && got.length < n + 1; i++) await new Promise((r) => setTimeout(r, 100));
    const wh = new Webhook(created.body.secret);
    const events = got.map((g) => wh.verify(g.body, g.headers) as any);
    expect(events.filter((e) => e.type === "delivery.delivered")).toHaveLength(n);
    expect(events.filter((e) => e.type === "batch.completed")).toEqual([
      expect.objectContaining({ data: expect.objectContaining({ id: batchId, status: "completed" }) }),
    ]);
    const all = got.map((g) => g.body).join("\n");
    expect(all).not.toMatch(/GIFT-|\/claim\/|@example\.com/);
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM webhook_events WHERE org = ?").bind(org).first<{ n: number }>();
    expect(rows!.n).toBeGreaterThanOrEqual(n + 1);
  });
});
