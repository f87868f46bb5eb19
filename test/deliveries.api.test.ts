import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DeliveryDetailSchema, DeliverySchema } from "../src/routes/deliveries/deliveries.schemas";
import { call, callJson, token, uniqueOrg } from "./helpers/api";
import { deliveredBatch, getDelivery, plainCodes, poolBalance } from "./helpers/support-factories";

describe("finding deliveries", () => {
  it("finds a recipient's delivery by email in any case and with a +tag, by phone, external id, batch and status", async () => {
    const org = uniqueOrg("find");
    const { batchId, ids, tokens } = await deliveredBatch(org, { recipients: 3, channel: "sms" });
    const byEmail = await callJson(`/v1/deliveries?recipient_email=${encodeURIComponent(`${org.toUpperCase()}1+Promo@Example.COM`)}`, {
      token: tokens.support,
    });
    expect(byEmail.status).toBe(200);
    expect(byEmail.body.data).toHaveLength(1);
    const d = byEmail.body.data[0];
    expect(d).toMatchObject({
      id: ids[1],
      batch_id: batchId,
      status: "delivered",
      status_reason: null,
      amount: { amount: 2500, currency: "USD" },
      channel: "sms",
      recipient: { external_id: `${org}-1`, name: "Person 1", email: `${org[0]}***@example.com`, phone: "+1******0101" },
      attempt_count: 1,
      reissue_of: null,
    });
    expect(d.masked_code).toMatch(/^••••.{4}$/);
    expect(d.delivered_at).toBeTruthy();

    const byPhone = await callJson(`/v1/deliveries?recipient_phone=${encodeURIComponent("+1 415 555 0102")}`, { token: tokens.operator });
    expect(byPhone.body.data.map((x: { id: string }) => x.id)).toEqual([ids[2]]);
    const byExternal = await callJson(`/v1/deliveries?external_id=${org}-0`, { token: tokens.integrator });
    expect(byExternal.body.data.map((x: { id: string }) => x.id)).toEqual([ids[0]]);
    const delivered = await callJson(`/v1/deliveries?batch_id=${batchId}&status=delivered`, { token: tokens.auditor });
    expect(delivered.body.data).toHaveLength(3);
    const failed = await callJson(`/v1/deliveries?batch_id=${batchId}&status=failed`, { token: tokens.auditor });
    expect(failed.body.data).toEqual([]);
    // A +tag pasted into a URL unencoded arrives as a space: still found. Half an address is refused.
    const unencoded = await callJson(`/v1/deliveries?recipient_email=${org}1+promo@example.com`, { token: tokens.support });
    expect(unencoded.body.data.map((x: { id: string }) => x.id)).toEqual([ids[1]]);
    const partial = await callJson(`/v1/deliveries?recipient_email=${org}1`, { token: tokens.support });
    expect([partial.status, partial.body.errors?.[0]?.parameter]).toEqual([400, "recipient_email"]);
    const bad = await callJson("/v1/deliveries?recipient_phone=12", { token: tokens.support });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0]).toMatchObject({ parameter: "recipient_phone" });
    // An empty filter (an unset variable in a support script) is refused, not read as "every delivery".
    for (const param of ["recipient_email", "recipient_phone", "external_id", "batch_id"]) {
      const empty = await callJson(`/v1/deliveries?${param}=`, { token: tokens.support });
      expect(empty.status, param).toBe(400);
      expect(empty.body.errors[0]).toMatchObject({ parameter: param });
    }
  });

  it("pages newest first without overlap", async () => {
    const org = uniqueOrg("page");
    const { batchId, ids, tokens } = await deliveredBatch(org, { recipients: 3 });
    const first = await callJson(`/v1/batches/${batchId}/deliveries?limit=2`, { token: tokens.admin });
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(2);
    const second = await callJson(`/v1/batches/${batchId}/deliveries?limit=2&cursor=${first.body.next_cursor}`, { token: tokens.admin });
    expect(second.body.next_cursor).toBeNull();
    const seen = [...first.body.data, ...second.body.data].map((x: { id: string }) => x.id);
    expect(seen).toEqual([...ids].sort().reverse());
  });

  it("tells support what happened to a reward in one call: every attempt with provider id and outcome", async () => {
    const org = uniqueOrg("detail");
    const { ids, tokens } = await deliveredBatch(org, { recipients: 1 });
    const res = await getDelivery(ids[0]!, tokens.support);
    expect(res.status).toBe(200);
    expect(res.body.attempts).toEqual([
      expect.objectContaining({
        attempt_no: 1,
        kind: "send",
        channel: "email",
        outcome: "sent",
        error_class: null,
        actor: "system:delivery",
        provider_message_id: expect.stringMatching(/^outbox:msg_/),
      }),
    ]);
    expect(res.body).toMatchObject({ reissues: [], exceptions: [], claim_url: null, status: "delivered" });
    // What is served is what the OpenAPI document says.
    expect(DeliveryDetailSchema.safeParse(res.body).error).toBeUndefined();
    const list = await callJson(`/v1/deliveries?batch_id=${res.body.batch_id}`, { token: tokens.support });
    expect(DeliverySchema.safeParse(list.body.data[0]).error).toBeUndefined();
  });

  it("documents every support route in the OpenAPI document", async () => {
    const { body } = await callJson("/openapi.json");
    expect(Object.keys(body.paths["/v1/deliveries"])).toEqual(["get"]);
    expect(body.paths["/v1/deliveries/{id}"].get["x-roles"]).toEqual(["support", "operator", "integrator", "auditor"]);
    expect(body.paths["/v1/deliveries/{id}/resend"].post.responses["429"]).toBeTruthy();
    expect(body.paths["/v1/deliveries/{id}/reissue"].post.responses["202"]).toBeTruthy();
    expect(body.paths["/v1/deliveries/{id}/reverse"].post["x-roles"]).toEqual(["finance"]);
    expect(body.paths["/v1/batches/{id}/deliveries"].get.responses["200"].content["text/csv"]).toBeTruthy();
    expect(body.paths["/v1/exceptions"].get).toBeTruthy();
    expect(body.paths["/v1/exceptions/{id}/resolve"].post.requestBody.content["application/json"]).toBeTruthy();
    expect(body.paths["/claim/{token}"].get.responses["200"].content["text/html"]).toBeTruthy();
  });

  it("answers 404 for another org's deliveries and batches and lists none of them", async () => {
    const org = uniqueOrg("own");
    const { batchId, ids } = await deliveredBatch(org, { recipients: 1 });
    const other = uniqueOrg("other");
    const roles = {
      support: await token({ org: other, roles: ["support"] }),
      finance: await token({ org: other, roles: ["finance"] }),
      operator: await token({ org: other, roles: ["operator"] }),
    };
    expect((await getDelivery(ids[0]!, roles.support)).status).toBe(404);
    expect((await callJson(`/v1/batches/${batchId}/deliveries`, { token: roles.support })).status).toBe(404);
    expect((await callJson(`/v1/deliveries?batch_id=${batchId}`, { token: roles.support })).body.data).toEqual([]);
    expect((await callJson(`/v1/deliveries?recipient_email=${org}0@example.com`, { token: roles.support })).body.data).toEqual([]);
    expect((await callJson(`/v1/deliveries/${ids[0]}/resend`, { method: "POST", token: roles.support })).status).toBe(404);
    expect((await callJson(`/v1/deliveries/${ids[0]}/reverse`, { method: "POST", token: roles.finance })).status).toBe(404);
    expect((await callJson(`/v1/deliveries/${ids[0]}/reissue`, { method: "POST", token: roles.operator })).status).toBe(404);
  });
});

describe("plain codes stay out of responses and exports", () => {
  it("never shows a plain code in lists, details or the CSV export, and neutralises formula cells", async () => {
    const org = uniqueOrg("nocode");
    const { batchId, ids, tokens } = await deliveredBatch(org, { recipients: 3 });
    const codes = await plainCodes(org, ids);
    expect(codes).toHaveLength(3);
    // The codes did go out to the recipients: the check below is not vacuous.
    const outbox = await env.DB.prepare("SELECT text FROM dev_outbox WHERE org = ?").bind(org).all<{ text: string }>();
    expect(codes.every((c) => outbox.results.some((m) => m.text.includes(c)))).toBe(true);

    await env.DB.prepare("UPDATE batch_recipients SET name = ? WHERE batch_id = ? AND row_no = 1").bind('=HYPERLINK("http://evil","x")', batchId).run();
    const texts = [
      await (await call(`/v1/deliveries?batch_id=${batchId}`, { token: tokens.operator })).text(),
      await (await call(`/v1/batches/${batchId}/deliveries`, { token: tokens.operator })).text(),
      ...(await Promise.all(ids.map(async (id) => (await call(`/v1/deliveries/${id}`, { token: tokens.operator })).text()))),
    ];
    const csvRes = await call(`/v1/batches/${batchId}/deliveries`, { token: tokens.support, headers: { accept: "text/csv" } });
    expect(csvRes.headers.get("content-type")).toMatch(/^text\/csv/);
    const csv = await csvRes.text();
    texts.push(csv);
    for (const text of texts) for (const code of codes) expect(text).not.toContain(code);

    const lines = csv.trim().split("\r\n");
    expect(lines[0]).toBe(
      "id,batch_id,status,status_reason,amount,currency,channel,masked_code,external_id,name,email,phone,attempts,created_at,delivered_at,reissue_of",
    );
    expect(lines).toHaveLength(4);
    expect(csv).toContain(`"'=HYPERLINK(""http://evil"",""x"")"`);
    expect(csv).toContain(`${org[0]}***@example.com`);
    expect(csv).not.toContain(`${org}0@example.com`);
    // Content negotiation weighs q-values: a client that prefers JSON gets JSON.
    for (const [accept, type] of [
      ["text/csv;q=0.5, application/json", /^application\/json/],
      ["application/json;q=0.1, text/csv", /^text\/csv/],
      ["*/*", /^application\/json/],
    ] as const) {
      const res = await call(`/v1/batches/${batchId}/deliveries`, { token: tokens.support, headers: { accept } });
      expect(res.headers.get("content-type"), accept).toMatch(type);
    }
  });
});

describe("resend", () => {
  it("lets support resend the same reward as a new attempt, but not reverse or reissue", async () => {
    const org = uniqueOrg("resend");
    const { ids, tokens, poolId } = await deliveredBatch(org, { recipients: 1 });
    const id = ids[0]!;
    const before = await poolBalance(poolId);
    const res = await callJson(`/v1/deliveries/${id}/resend`, { token: tokens.support, body: { reason: "ticket 4411: not received" } });
    expect(res.status).toBe(200);
    expect(res.body.attempt).toMatchObject({ attempt_no: 2, kind: "resend", outcome: "sent", actor: "sue" });
    const audited = await env.DB.prepare("SELECT after FROM audit_events WHERE org = ? AND action = 'delivery.resent'").bind(org).first<{ after: string }>();
    expect(JSON.parse(audited!.after)).toMatchObject({ attempt_no: 2, reason: "ticket 4411: not received" });
    const unknown = await callJson(`/v1/deliveries/${id}/resend`, { token: tokens.support, body: { channel: "sms" } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0]).toMatchObject({ pointer: "/channel" });
    expect(res.body.delivery.attempts).toHaveLength(2);
    const [code] = await plainCodes(org, [id]);
    const mails = await env.DB.prepare("SELECT text FROM dev_outbox WHERE org = ? AND channel = 'email'").bind(org).all<{ text: string }>();
    expect(mails.results).toHaveLength(2);
    expect(mails.results.every((m) => m.text.includes(code!))).toBe(true); // the same reward, not a new one
    expect(await poolBalance(poolId)).toEqual(before);
    expect((await callJson(`/v1/deliveries/${id}/reverse`, { method: "POST", token: tokens.support })).status).toBe(403);
    expect((await callJson(`/v1/deliveries/${id}/reissue`, { method: "POST", token: tokens.support })).status).toBe(403);
    expect((await callJson(`/v1/deliveries/${id}/resend`, { method: "POST", token: tokens.auditor })).status).toBe(403);
    const audit = await env.DB.prepare("SELECT actor, after FROM audit_events WHERE org = ? AND entity_id = ? AND action = 'delivery.resent'")
      .bind(org, id)
      .all<{ actor: string; after: string }>();
    expect(audit.results).toHaveLength(1);
    expect(JSON.parse(audit.results[0]!.after)).toMatchObject({ attempt_no: 2, outcome: "sent" });
  });

  it("refuses to resend a link reward, which Rewardrail never sent, and records no attempt", async () => {
    const org = uniqueOrg("resendlink");
    const { ids, tokens } = await deliveredBatch(org, { recipients: 1, kind: "stored_value", channel: "link" });
    const res = await callJson(`/v1/deliveries/${ids[0]}/resend`, { method: "POST", token: tokens.support });
    expect([res.status, res.body.code]).toEqual([409, "invalid_state_transition"]);
    expect(res.body.detail).toContain("claim_url");
    const detail = await callJson(`/v1/deliveries/${ids[0]}`, { token: tokens.support });
    expect(detail.body.attempts.map((a: any) => a.kind)).toEqual(["send"]);
  });

  it("throttles resends: 5 minutes apart and at most 5 a day, with Retry-After", async () => {
    const org = uniqueOrg("throttle");
    const { ids, tokens } = await deliveredBatch(org, { recipients: 1 });
    const id = ids[0]!;
    const resend = () => callJson(`/v1/deliveries/${id}/resend`, { method: "POST", token: tokens.operator });
    expect((await resend()).status).toBe(200);
    const tooSoon = await resend();
    expect(tooSoon.status).toBe(429);
    expect(tooSoon.body.code).toBe("rate_limited");
    const wait = Number(tooSoon.res.headers.get("retry-after"));
    expect(wait).toBeGreaterThan(290);
    expect(wait).toBeLessThanOrEqual(300);
    for (let n = 2; n <= 5; n++) {
      // Each earlier resend moves back 6 minutes, as if the support desk waited.
      await env.DB.prepare(
        "UPDATE delivery_attempts SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', created_at, '-6 minutes') WHERE delivery_id = ? AND kind = 'resend'",
      )
        .bind(id)
        .run();
      expect((await resend()).status).toBe(200);
    }
    await env.DB.prepare(
      "UPDATE delivery_attempts SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', created_at, '-6 minutes') WHERE delivery_id = ? AND kind = 'resend'",
    )
      .bind(id)
      .run();
    const sixth = await resend();
    expect(sixth.status).toBe(429);
    expect(sixth.body.detail).toMatch(/5 times in the last 24 hours/);
    expect(Number(sixth.res.headers.get("retry-after"))).toBeGreaterThan(20 * 3600);
    const attempts = await env.DB.prepare("SELECT COUNT(*) AS n FROM delivery_attempts WHERE delivery_id = ? AND kind = 'resend'")
      .bind(id)
      .first<{ n: number }>();
    expect(attempts?.n).toBe(5);
  });

  it("refuses to resend a delivery that is not delivered", async () => {
    const org = uniqueOrg("resend409");
    const { ids, tokens } = await deliveredBatch(org, { recipients: 1 });
    await env.DB.prepare("UPDATE deliveries SET status = 'failed' WHERE id = ?").bind(ids[0]).run();
    const res = await callJson(`/v1/deliveries/${ids[0]}/resend`, { method: "POST", token: tokens.operator });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ status: 409, code: "invalid_state_transition", delivery_status: "failed" });
  });
});
