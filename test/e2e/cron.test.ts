/**
 * The cron triggers as `npm run dev` serves them: /__scheduled?cron=… runs the Worker's scheduled()
 * handler in wrangler dev, so the hourly reconciliation can be run by hand the way cron runs it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "./dev-server";

let server: DevServer;

beforeAll(async () => {
  server = await startDevServer();
});

afterAll(async () => {
  await server?.stop();
});

describe("cron triggers under wrangler dev", () => {
  it("runs the hourly reconciliation for an org with a pool when /__scheduled is called with its cron", async () => {
    const org = `cron-${Date.now()}`;
    const finance = await server.token({ org, sub: "fran", roles: ["finance"] });
    const auth = { authorization: `Bearer ${finance}`, "content-type": "application/json" };
    const pool = await fetch(`${server.url}/v1/pools`, { method: "POST", headers: auth, body: JSON.stringify({ name: "Q4", currency: "USD" }) });
    expect(pool.status).toBe(201);
    const runs = async () => ((await (await fetch(`${server.url}/v1/reconciliations`, { headers: auth })).json()) as { data: any[] }).data;
    expect(await runs()).toEqual([]);

    // The five-minute sweeps leave reconciliation alone; the hourly cron starts it.
    expect((await fetch(`${server.url}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`)).status).toBe(200);
    expect((await fetch(`${server.url}/__scheduled?cron=${encodeURIComponent("0 * * * *")}`)).status).toBe(200);
    const deadline = Date.now() + 30_000;
    let list = await runs();
    while (list[0]?.status !== "completed" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      list = await runs();
    }
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ trigger: "cron", requested_by: "system:cron", status: "completed", findings: { total: 0 } });
  });
});
