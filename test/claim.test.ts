import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../src/app";
import { claimUrl } from "../src/delivery/claim-links";
import { enqueueRelease } from "../src/delivery/hand-off";
import { call, callJson, token, uniqueOrg } from "./helpers/api";
import { releasedBatch, waitForBatch } from "./helpers/delivery-factories";
import { auditActions, plainCodes, supportTokens } from "./helpers/support-factories";

/** A link-channel batch of stored-value cards valid for 30 days, delivered; returns the claim path of its delivery. */
async function linkDelivery(org: string) {
  const seeded = await releasedBatch(org, { recipients: 1, channel: "link", kind: "stored_value", enqueue: false });
  await env.DB.prepare("UPDATE products SET expires_after_days = 30, name = 'Coffee card' WHERE id = ?").bind(seeded.productId).run();
  await enqueueRelease(env, org, seeded.batchId);
  await waitForBatch(seeded.batchId, ["completed"]);
  const { id } = (await env.DB.prepare("SELECT id FROM deliveries WHERE batch_id = ?").bind(seeded.batchId).first<{ id: string }>())!;
  const tokens = await supportTokens(org);
  const detail = await callJson(`/v1/deliveries/${id}`, { token: tokens.integrator });
  const path = new URL(detail.body.claim_url as string).pathname;
  return { ...seeded, id, tokens, path, detail: detail.body };
}

const openedAt = (id: string) =>
  env.DB.prepare("SELECT claim_opened_at FROM deliveries WHERE id = ?")
    .bind(id)
    .first<{ claim_opened_at: string | null }>()
    .then((r) => r?.claim_opened_at ?? null);

describe("the claim page", () => {
  afterEach(() => vi.restoreAllMocks());

  it("shows the code, amount, product and expiry, never cached or referred, and records the first open once", async () => {
    const org = uniqueOrg("claim");
    const { id, path } = await linkDelivery(org);
    const [code] = await plainCodes(org, [id]);
    expect(await openedAt(id)).toBeNull();
    const res = await call(path);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(res.headers.get("cache-control")).toBe("no-store");
    const html = await res.text();
    expect(html).toContain(code);
    expect(html).toContain("$25.00");
    expect(html).toContain("Coffee card");
    const card = await env.DB.prepare("SELECT expires_at FROM cards WHERE delivery_id = ?").bind(id).first<{ expires_at: string }>();
    expect(html).toContain(`Valid until ${card!.expires_at.slice(0, 10)}`);

    const first = await openedAt(id);
    expect(first).toEqual(expect.any(String));
    expect((await call(path)).status).toBe(200);
    expect(await openedAt(id)).toBe(first);
    expect((await auditActions(org, id)).filter((a) => a === "delivery.claim_opened")).toHaveLength(1);
  });

  it("gives the claim URL to operators and integrators only; lists show neither it nor the code", async () => {
    const org = uniqueOrg("claimurl");
    const { id, tokens, path, batchId } = await linkDelivery(org);
    const [code] = await plainCodes(org, [id]);
    expect((await callJson(`/v1/deliveries/${id}`, { token: tokens.operator })).body.claim_url).toContain(path);
    for (const t of [tokens.support, tokens.auditor]) expect((await callJson(`/v1/deliveries/${id}`, { token: t })).body.claim_url).toBeNull();
    const list = await (await call(`/v1/deliveries?batch_id=${batchId}`, { token: tokens.integrator })).text();
    expect(list).not.toContain(path.split("/").pop()!);
    expect(list).not.toContain(code);
  });

  it("answers a plain 404 page for a bad, tampered, foreign or expired token", async () => {
    const org = uniqueOrg("claimbad");
    const { id, path } = await linkDelivery(org);
    const [code] = await plainCodes(org, [id]);
    const tokenPart = path.split("/").pop()!;
    const tampered = tokenPart.slice(0, -3) + (tokenPart.endsWith("AAA") ? "BBB" : "AAA");
    const apiToken = await token({ org, roles: ["operator"] });
    const expired = new URL(await claimUrl(env, org, id, new Date(Date.now() - 60_000).toISOString())).pathname;
    for (const bad of ["/claim/nonsense", `/claim/${tampered}`, `/claim/${apiToken}`, expired]) {
      const res = await call(bad);
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toMatch(/^text\/html/);
      expect(res.headers.get("cache-control")).toBe("no-store");
      const html = await res.text();
      expect(html).toContain("This link is not valid");
      expect(html).not.toContain(code);
    }
    expect(await openedAt(id)).toBeNull();
  });

  it("stops working once the reward is reversed", async () => {
    const org = uniqueOrg("claimrev");
    const { id, path, tokens } = await linkDelivery(org);
    expect((await callJson(`/v1/deliveries/${id}/reverse`, { method: "POST", token: tokens.finance })).status).toBe(200);
    expect((await call(path)).status).toBe(404);
  });

  it("keeps the claim token out of the request log", async () => {
    const org = uniqueOrg("claimlog");
    const { path } = await linkDelivery(org);
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    const res = await createApp().fetch(new Request(`http://rewardrail.test${path}`), { ...env, ENVIRONMENT: "development" }, createExecutionContext());
    expect(res.status).toBe(200);
    expect(lines.join("\n")).toContain('"path":"/claim/[token]"');
    expect(lines.join("\n")).not.toContain(path.split("/").pop()!);
  });
});
