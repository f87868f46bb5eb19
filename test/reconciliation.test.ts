import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { driveRun, startRun } from "../src/reconciliation/engine";
import { call, callJson, token, uniqueOrg } from "./helpers/api";
import { createPool } from "./helpers/factories";
import { acceptException, approvedBatch, exceptionsFor, financeToken, findingsOf, reconcile, sql } from "./helpers/reconciliation-factories";

const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();

/** A delivered batch with one delivery stuck in `sending`; returns that delivery's id. */
async function orgWithStuckDelivery(org: string) {
  const { batchId } = await approvedBatch(org, { recipients: 2 });
  const d = await env.DB.prepare("SELECT id FROM deliveries WHERE batch_id = ? ORDER BY id LIMIT 1").bind(batchId).first<{ id: string }>();
  await sql("UPDATE deliveries SET status = 'sending', updated_at = ?, claimed_until = ? WHERE id = ?", hoursAgo(3), hoursAgo(3), d!.id);
  return d!.id;
}

describe("reconciliation runs", () => {
  it("reconciles an org of several delivered batches with zero findings and totals that add up", async () => {
    const org = uniqueOrg();
    const batches = [
      await approvedBatch(org, { recipients: 4, amount: 2500 }),
      await approvedBatch(org, { recipients: 3, amount: 1000, kind: "stored_value", channel: "link" }),
      await approvedBatch(org, { recipients: 2, amount: 5000, channel: "sms" }),
    ];
    const spent = batches.reduce((s, b) => s + b.validTotal, 0);
    const res = await callJson("/v1/reconciliations", { method: "POST", token: await financeToken(org) });
    expect(res.status).toBe(201);
    expect(res.res.headers.get("location")).toBe(`/v1/reconciliations/${res.body.id}`);
    expect(res.body).toMatchObject({
      status: "completed",
      trigger: "manual",
      requested_by: "fran",
      phase: "done",
      error: null,
      findings: { total: 0, by_kind: {} },
    });
    expect(res.body.totals).toEqual([{ currency: "USD", planned: spent, reserved: 0, committed: spent, delivered: spent, failed: 0, reversed: 0 }]);
    expect(res.body.progress.rows_scanned).toBeGreaterThanOrEqual(9 + 3);
    expect(Object.keys(res.body.progress.phases)).toEqual(["ledger", "batches", "deliveries", "inventory"]);
    expect(await findingsOf(org, res.body.id)).toEqual([]);
    // GET answers the run as POST did (at the top level, and under `run`), with its findings in `data`.
    const got = await callJson(`/v1/reconciliations/${res.body.id}`, { token: await financeToken(org) });
    const { updated_at: _u, ...posted } = res.body;
    expect(got.body).toMatchObject({ ...posted, data: [], next_cursor: null });
    expect(got.body.run).toEqual(Object.fromEntries(Object.keys(res.body).map((k) => [k, got.body[k]])));
    const listed = await callJson("/v1/reconciliations", { token: await token({ org, roles: ["auditor"] }) });
    expect(listed.body.data.map((r: any) => r.id)).toEqual([res.body.id]);
    const audit = await env.DB.prepare("SELECT action FROM audit_events WHERE org = ? AND entity_id = ? ORDER BY seq")
      .bind(org, res.body.id)
      .all<{ action: string }>();
    expect(audit.results.map((a) => a.action)).toEqual(["reconciliation.started", "reconciliation.completed"]);
  });

  it("runs with no body or {}, and refuses fields or text it would otherwise ignore", async () => {
    const org = uniqueOrg();
    const fin = await financeToken(org);
    const unknown = await callJson("/v1/reconciliations", { token: fin, body: { scope: "all" } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0]).toMatchObject({ pointer: "/scope", code: "unrecognized_keys" });
    const malformed = await callJson("/v1/reconciliations", { token: fin, method: "POST", rawBody: "{oops", headers: { "content-type": "application/json" } });
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe("invalid_json");
    expect((await callJson("/v1/reconciliations", { token: fin, body: {} })).status).toBe(201);
    expect((await callJson("/v1/reconciliations", { token: fin, method: "POST", rawBody: "{}", headers: { "content-type": "text/plain" } })).status).toBe(201);
  });

  it("opens one exception per problem however often it runs; each run counts one more occurrence", async () => {
    const org = uniqueOrg();
    const stuck = await orgWithStuckDelivery(org);
    const first = await reconcile(org);
    const second = await reconcile(org);
    expect(second.id).not.toBe(first.id);
    const [a] = await findingsOf(org, first.id);
    const [b] = await findingsOf(org, second.id);
    const exceptions = await exceptionsFor(org, stuck);
    expect(exceptions.map((e) => [e.kind, e.status, e.occurrences])).toEqual([["stuck_delivery", "open", 2]]);
    expect([a.exception_id, b.exception_id]).toEqual([exceptions[0].id, exceptions[0].id]);
    expect(b.fingerprint).toBe(a.fingerprint);
  });

  it("keeps a resolved exception resolved while the drift is unchanged, and opens a new one when it returns", async () => {
    const org = uniqueOrg();
    const { poolId, stub } = await approvedBatch(org, { recipients: 2 });
    await stub.syncMirror();
    const entry = await env.DB.prepare("SELECT * FROM pool_ledger WHERE pool_id = ? AND kind = 'commit' ORDER BY seq LIMIT 1").bind(poolId).first<any>();
    const drop = () => sql("DELETE FROM pool_ledger WHERE pool_id = ? AND seq = ?", poolId, entry.seq);
    await drop();
    await reconcile(org);
    const [opened] = await exceptionsFor(org, poolId);
    expect(opened).toMatchObject({ kind: "ledger_drift", status: "open" });
    await acceptException(org, opened.id);

    const again = await reconcile(org);
    expect(again.findings.by_kind).toEqual({ ledger_drift: 1 });
    expect((await findingsOf(org, again.id))[0].exception_id).toBe(opened.id);
    expect((await exceptionsFor(org, poolId)).map((e) => e.status)).toEqual(["resolved"]);

    // Fixed: the entry is back, the run finds nothing...
    const cols = Object.keys(entry);
    await sql(`INSERT INTO pool_ledger (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`, ...cols.map((c) => entry[c]));
    expect((await reconcile(org)).findings.total).toBe(0);
    // ...and when the same drift comes back, it is a new problem with a new open exception.
    await drop();
    const back = await reconcile(org);
    const list = await exceptionsFor(org, poolId);
    expect(list.map((e) => e.status)).toEqual(["resolved", "open"]);
    expect((await findingsOf(org, back.id))[0].exception_id).toBe(list[1].id);
  });

  it("works in small pages over many steps and finds exactly what one big page finds", async () => {
    const org = uniqueOrg();
    const stuck = await orgWithStuckDelivery(org);
    await approvedBatch(org, { recipients: 5, kind: "stored_value", channel: "link" });
    const whole = await reconcile(org);
    const { run } = await startRun(env, org, "manual", "test", { page: 2 });
    const { run: done, stopped } = await driveRun(env, run.id, { ms: 60_000, steps: 200 });
    expect(stopped).toBe("done");
    const state = JSON.parse(done.state);
    // 7 deliveries at 2 per page; the journal (fund, reserves, commits) 2 entries a page.
    expect(state.phases.deliveries.steps).toBe(4);
    expect(state.phases.deliveries.rows).toBe(7);
    expect(state.phases.ledger.steps).toBeGreaterThanOrEqual(4);
    expect(done.rows_scanned).toBe(whole.progress.rows_scanned);
    const paged = await findingsOf(org, done.id);
    expect(paged.map((f) => [f.kind, f.entity_id, f.fingerprint])).toEqual((await findingsOf(org, whole.id)).map((f) => [f.kind, f.entity_id, f.fingerprint]));
    expect(paged.map((f) => f.entity_id)).toEqual([stuck]);
    expect((await exceptionsFor(org, stuck))[0].occurrences).toBe(2);
  });

  it("finishes a run interrupted midway, and redoes one that nobody advanced for five minutes", async () => {
    const org = uniqueOrg();
    await orgWithStuckDelivery(org);
    const { run } = await startRun(env, org, "manual", "test", { page: 1 });
    const { stopped } = await driveRun(env, run.id, { ms: 60_000, steps: 2 });
    expect(stopped).toBe("budget");
    const joined = await reconcile(org);
    expect(joined.id).toBe(run.id);
    expect(joined.findings.by_kind).toEqual({ stuck_delivery: 1 });

    const { run: stale } = await startRun(env, org, "manual", "test", { page: 1 });
    await driveRun(env, stale.id, { ms: 60_000, steps: 1 });
    await sql("UPDATE reconciliation_runs SET updated_at = ? WHERE id = ?", hoursAgo(1), stale.id);
    const redone = await reconcile(org);
    expect(redone.id).not.toBe(stale.id);
    const old = await callJson(`/v1/reconciliations/${stale.id}`, { token: await financeToken(org) });
    expect(old.body.run.status).toBe("abandoned");
  });

  it("runs from the hourly cron for every org that has a pool or a product", async () => {
    const org = uniqueOrg();
    const stuck = await orgWithStuckDelivery(org);
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "0 * * * *", scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    const deadline = Date.now() + 20_000;
    let runs: any[] = [];
    while (Date.now() < deadline) {
      runs = (await callJson(`/v1/reconciliations?trigger=cron`, { token: await financeToken(org) })).body.data;
      if (runs[0]?.status === "completed") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: "completed", trigger: "cron", requested_by: "system:cron", findings: { by_kind: { stuck_delivery: 1 } } });
    expect((await exceptionsFor(org, stuck))[0].kind).toBe("stuck_delivery");
  });

  it("lets finance run it, finance and auditors read it, and hides runs from other orgs", async () => {
    const org = uniqueOrg();
    await createPool(org, { fund: 100 });
    const run = await reconcile(org);
    const as = async (roles: string[], o = org) => token({ org: o, roles });
    expect((await call("/v1/reconciliations", { method: "POST", token: await as(["operator", "auditor", "admin"]) })).status).toBe(403);
    expect((await call("/v1/reconciliations", { method: "POST" })).status).toBe(401);
    expect((await call(`/v1/reconciliations/${run.id}`, { token: await as(["auditor"]) })).status).toBe(200);
    expect((await call("/v1/reconciliations", { token: await as(["support", "operator"]) })).status).toBe(403);
    expect((await call(`/v1/reconciliations/${run.id}`, { token: await as(["finance"], uniqueOrg()) })).status).toBe(404);
    expect((await call("/v1/reconciliations?status=bogus", { token: await as(["finance"]) })).status).toBe(400);
  });

  it("exports findings as CSV with formula-like cells neutralised", async () => {
    const org = uniqueOrg();
    const { batchId } = await approvedBatch(org, { recipients: 1 });
    // Two live deliveries of a recipient whose id a spreadsheet would run as a formula.
    for (const n of [1, 2]) {
      await sql(
        `INSERT INTO deliveries (id, org, batch_id, recipient_id, pool_id, product_id, channel, amount, currency, status, item, committed, created_at, updated_at)
         SELECT 'dlv_csv${n}', org, batch_id, '=HYPERLINK("http://x")', pool_id, product_id, channel, amount, currency, 'queued', 'dlv_csv${n}', 0, created_at, ? FROM deliveries WHERE batch_id = ? AND id NOT LIKE 'dlv_csv%'`,
        new Date().toISOString(),
        batchId,
      );
    }
    const run = await reconcile(org);
    const res = await call(`/v1/reconciliations/${run.id}?kind=duplicate_payout`, { token: await financeToken(org), headers: { accept: "text/csv" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/csv/);
    const lines = (await res.text()).trim().split("\r\n");
    expect(lines[0]).toBe("id,kind,severity,entity_type,entity_id,batch_id,pool_id,currency,expected,actual,difference,detail,exception_id,created_at,data");
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(`,duplicate_payout,high,recipient,"'=HYPERLINK(""http://x"")",${batchId},`);
  });
});
