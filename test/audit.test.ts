import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { appendAudit, type AuditInput } from "../src/audit/audit";
import { verifyAuditChain } from "../src/audit/audit.verify";
import { call, callJson, token, uniqueOrg } from "./helpers/api";
import { deliveredBatch } from "./helpers/support-factories";
import { validateOpenApi31 } from "./helpers/openapi-validator";

const auditor = (org: string) => token({ org, sub: "audra", roles: ["auditor"] });

function event(n: number, over: Partial<AuditInput> = {}): AuditInput {
  return { actor: "alice", action: "batch.updated", entityType: "batch", entityId: `bat_${n}`, before: { n, v: 0 }, after: { n, v: 1 }, ...over };
}

/** Appends events 1..count one call each, so every event has its own insert. */
async function seed(org: string, count: number): Promise<void> {
  for (let n = 1; n <= count; n++) await appendAudit(env.DB, org, [event(n)]);
}

async function verify(org: string) {
  const { status, body } = await callJson("/v1/audit/verify", { token: await auditor(org) });
  expect(status).toBe(200);
  return body;
}

function sql(query: string, ...params: unknown[]) {
  return env.DB.prepare(query)
    .bind(...params)
    .run();
}

describe("GET /v1/audit", () => {
  it("lists events newest first with parsed before/after and hashes", async () => {
    const org = uniqueOrg();
    await seed(org, 3);
    const { status, body } = await callJson("/v1/audit", { token: await auditor(org) });
    expect(status).toBe(200);
    expect(body.data.map((e: any) => e.seq)).toEqual([3, 2, 1]);
    expect(body.next_cursor).toBeNull();
    expect(body.data[2]).toMatchObject({
      actor: "alice",
      action: "batch.updated",
      entity_type: "batch",
      entity_id: "bat_1",
      before: { n: 1, v: 0 },
      after: { n: 1, v: 1 },
      request_id: null,
      prev_hash: "0".repeat(64),
    });
    expect(body.data[1].prev_hash).toBe(body.data[2].hash);
    expect(body.data[0].id).toMatch(/^aud_/);
  });

  it("pages with an opaque cursor until next_cursor is null", async () => {
    const org = uniqueOrg();
    await seed(org, 5);
    const t = await auditor(org);
    const first = await callJson("/v1/audit?limit=3", { token: t });
    expect(first.body.data.map((e: any) => e.seq)).toEqual([5, 4, 3]);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    expect(first.body.next_cursor).not.toContain("3");
    const second = await callJson(`/v1/audit?limit=3&cursor=${first.body.next_cursor}`, { token: t });
    expect(second.body.data.map((e: any) => e.seq)).toEqual([2, 1]);
    expect(second.body.next_cursor).toBeNull();
  });

  it("filters by entity_id, actor, action and entity_type", async () => {
    const org = uniqueOrg();
    await appendAudit(env.DB, org, [
      event(1),
      event(2, { actor: "bob" }),
      event(1, { action: "batch.submitted" }),
      event(3, { entityType: "pool", entityId: "pool_1" }),
    ]);
    const t = await auditor(org);
    const seqs = async (q: string) => (await callJson(`/v1/audit?${q}`, { token: t })).body.data.map((e: any) => e.seq);
    expect(await seqs("entity_id=bat_1")).toEqual([3, 1]);
    expect(await seqs("actor=bob")).toEqual([2]);
    expect(await seqs("action=batch.submitted")).toEqual([3]);
    expect(await seqs("entity_type=pool")).toEqual([4]);
    expect(await seqs("entity_id=bat_1&action=batch.updated")).toEqual([1]);
  });

  it("filters by created_at with from inclusive and to exclusive", async () => {
    const org = uniqueOrg();
    await seed(org, 2);
    await new Promise((r) => setTimeout(r, 5));
    await appendAudit(env.DB, org, [event(3)]);
    const t = await auditor(org);
    const all = (await callJson("/v1/audit", { token: t })).body.data;
    const third = all[0].created_at as string;
    const seqs = async (q: string) => (await callJson(`/v1/audit?${q}`, { token: t })).body.data.map((e: any) => e.seq);
    expect(await seqs(`from=${encodeURIComponent(third)}`)).toEqual([3]);
    expect(await seqs(`to=${encodeURIComponent(third)}`)).toEqual([2, 1]);
    expect(await seqs("from=2000-01-01&to=2000-01-02")).toEqual([]);
  });

  it("refuses a bad cursor, a bad time and unknown parameters with 400", async () => {
    const t = await auditor(uniqueOrg());
    for (const q of ["cursor=nonsense", "from=yesterday", "limit=501", "entityid=bat_1"]) {
      const { status, body } = await callJson(`/v1/audit?${q}`, { token: t });
      expect(status, q).toBe(400);
      expect(body.code).toBe("validation_failed");
    }
  });

  it("never shows another org's events", async () => {
    const mine = uniqueOrg();
    const theirs = uniqueOrg();
    await seed(mine, 1);
    await seed(theirs, 2);
    const { body } = await callJson("/v1/audit", { token: await auditor(mine) });
    expect(body.data).toHaveLength(1);
    expect((await callJson("/v1/audit?entity_id=bat_2", { token: await auditor(mine) })).body.data).toEqual([]);
  });

  it("is open to auditor and admin, 403 for operator, 401 without a token", async () => {
    const org = uniqueOrg();
    expect((await call("/v1/audit", { token: await token({ org, roles: ["admin"] }) })).status).toBe(200);
    expect((await call("/v1/audit", { token: await token({ org, roles: ["operator"] }) })).status).toBe(403);
    expect((await call("/v1/audit")).status).toBe(401);
  });
});

describe("GET /v1/audit/verify", () => {
  it("reports an untouched chain as valid", async () => {
    const org = uniqueOrg();
    await seed(org, 10);
    const body = await verify(org);
    expect(body).toMatchObject({ valid: true, events_checked: 10, last_seq: 10, first_break: null });
    const head = (await callJson("/v1/audit?limit=1", { token: await auditor(org) })).body.data[0];
    expect(body.last_hash).toBe(head.hash);
  });

  it("reports an org without events as valid and empty", async () => {
    expect(await verify(uniqueOrg())).toEqual({ valid: true, events_checked: 0, last_seq: null, last_hash: null, first_break: null });
  });

  it("detects an edited event as hash_mismatch at that event", async () => {
    const org = uniqueOrg();
    await seed(org, 10);
    await sql("UPDATE audit_events SET after = ? WHERE org = ? AND seq = 5", JSON.stringify({ n: 5, v: 999 }), org);
    const body = await verify(org);
    expect(body).toMatchObject({ valid: false, events_checked: 5, last_seq: 4, first_break: { seq: 5, reason: "hash_mismatch" } });
    const row = await env.DB.prepare("SELECT id FROM audit_events WHERE org = ? AND seq = 5").bind(org).first<{ id: string }>();
    expect(body.first_break.event_id).toBe(row!.id);
  });

  it("detects a deleted event as seq_gap at the next event", async () => {
    const org = uniqueOrg();
    await seed(org, 10);
    await sql("DELETE FROM audit_events WHERE org = ? AND seq = 4", org);
    const body = await verify(org);
    expect(body).toMatchObject({ valid: false, last_seq: 3, first_break: { seq: 5, reason: "seq_gap" } });
  });

  it("detects two reordered events at the first one moved", async () => {
    const org = uniqueOrg();
    await seed(org, 10);
    await sql("UPDATE audit_events SET seq = -1 WHERE org = ? AND seq = 3", org);
    await sql("UPDATE audit_events SET seq = 3 WHERE org = ? AND seq = 7", org);
    await sql("UPDATE audit_events SET seq = 7 WHERE org = ? AND seq = -1", org);
    const body = await verify(org);
    expect(body).toMatchObject({ valid: false, last_seq: 2, first_break: { seq: 3, reason: "prev_hash_mismatch" } });
  });

  it("detects two events whose contents were swapped at the first one", async () => {
    const org = uniqueOrg();
    await seed(org, 10);
    const cols = "actor, action, entity_type, entity_id, before, after";
    const swap = `UPDATE audit_events SET (${cols}) = (SELECT ${cols} FROM audit_events WHERE org = ?1 AND seq = ?3) WHERE org = ?1 AND seq = ?2`;
    const six = await env.DB.prepare(`SELECT ${cols} FROM audit_events WHERE org = ? AND seq = 6`).bind(org).first();
    await sql(swap, org, 6, 2);
    await sql(`UPDATE audit_events SET (${cols}) = (?2, ?3, ?4, ?5, ?6, ?7) WHERE org = ?1 AND seq = 2`, org, ...Object.values(six!));
    const body = await verify(org);
    expect(body.first_break).toMatchObject({ seq: 2, reason: "hash_mismatch" });
  });

  it("verifies across page boundaries and stops at the first break", async () => {
    const org = uniqueOrg();
    await seed(org, 10);
    expect(await verifyAuditChain(env.DB, org, 3)).toMatchObject({ valid: true, events_checked: 10, last_seq: 10 });
    await sql("UPDATE audit_events SET actor = 'mallory' WHERE org = ? AND seq IN (7, 9)", org);
    expect(await verifyAuditChain(env.DB, org, 3)).toMatchObject({ valid: false, events_checked: 7, first_break: { seq: 7, reason: "hash_mismatch" } });
  });

  it("keeps the chain valid under concurrent writers", async () => {
    const org = uniqueOrg();
    await Promise.all(Array.from({ length: 20 }, (_, i) => appendAudit(env.DB, org, [event(i + 1)])));
    expect(await verify(org)).toMatchObject({ valid: true, events_checked: 20, last_seq: 20 });
    const { body } = await callJson("/v1/audit?limit=500", { token: await auditor(org) });
    expect(body.data.map((e: any) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => 20 - i));
  });

  it("is for auditors only: admin and operator get 403, no token 401", async () => {
    const org = uniqueOrg();
    expect((await call("/v1/audit/verify", { token: await token({ org, roles: ["admin"] }) })).status).toBe(403);
    expect((await call("/v1/audit/verify", { token: await token({ org, roles: ["operator"] }) })).status).toBe(403);
    expect((await call("/v1/audit/verify")).status).toBe(401);
  });
});

describe("a delivery run's settlement event", () => {
  it("names each delivery it settled, shows in the delivery's history, and breaks verification when a recorded outcome is edited or deleted", async () => {
    const org = uniqueOrg("settle");
    const { ids } = await deliveredBatch(org, { recipients: 4 });
    expect(await verify(org)).toMatchObject({ valid: true, first_break: null });

    const history = await callJson(`/v1/audit?entity_id=${ids[0]}`, { token: await auditor(org) });
    expect(history.status).toBe(200);
    const settled = history.body.data.find((e: any) => e.action === "delivery.settled");
    expect(settled).toMatchObject({ entity_type: "batch", after: { counts: { delivered: 4 }, digest: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(settled.after.deliveries).toContainEqual([ids[0], "delivered", 1]);

    await sql("UPDATE delivery_attempts SET provider_message_id = 'forged' WHERE delivery_id = ?", ids[1]);
    expect(await verify(org)).toMatchObject({ valid: false, first_break: { seq: settled.seq, reason: "digest_mismatch" } });
    const original = await env.DB.prepare("SELECT provider_message_id FROM delivery_attempts WHERE delivery_id = ?")
      .bind(ids[2])
      .first<{ provider_message_id: string }>();
    await sql("UPDATE delivery_attempts SET provider_message_id = ? WHERE delivery_id = ?", original!.provider_message_id, ids[1]);
    // The fake provider's message ids are per delivery; restoring another one's is still a forgery.
    expect((await verify(org)).first_break?.reason).toBe("digest_mismatch");

    await sql("DELETE FROM delivery_attempts WHERE delivery_id = ?", ids[1]);
    const broken = await verify(org);
    expect(broken.first_break).toMatchObject({ reason: "digest_mismatch", detail: expect.stringContaining(ids[1]!) });
  }, 60_000);
});

describe("audit in the OpenAPI document", () => {
  it("lists both routes with their roles, and the document stays valid", async () => {
    const { body } = await callJson("/openapi.json");
    expect(validateOpenApi31(body).errors ?? []).toEqual([]);
    expect(body.paths["/v1/audit"].get["x-roles"]).toEqual(["auditor", "admin"]);
    expect(body.paths["/v1/audit"].get.parameters.map((p: any) => p.name)).toEqual(
      expect.arrayContaining(["limit", "cursor", "entity_id", "actor", "action", "from", "to"]),
    );
    expect(body.paths["/v1/audit/verify"].get["x-roles"]).toEqual(["auditor"]);
    expect(body.paths["/v1/audit/verify"].get.security).toEqual([{ bearerAuth: [] }]);
  });
});
