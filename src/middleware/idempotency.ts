import { createMiddleware } from "hono/factory";
import { AppError } from "../core/errors";
import { sha256Hex } from "../core/crypto";
import type { AppEnv } from "../env";

const KEY_TTL_MS = 24 * 60 * 60 * 1000;
/** How long a claimed key stays locked while its first request runs; a crashed request frees it after this. */
const IN_FLIGHT_LEASE_MS = 2 * 60 * 1000;
/** Responses that say nothing about the operation are not stored, so a corrected retry can go through. */
const NOT_STORED = new Set([401, 403, 429]);

interface StoredKey {
  request_hash: string;
  state: "in_flight" | "done";
  response_status: number | null;
  response_headers: string | null;
  response_body: string | null;
}

/**
 * Idempotency-Key for POSTs (API.md): the first request with a key claims it in D1 (one conditional
 * insert, so of many concurrent requests exactly one runs); its response is stored and replayed to
 * later requests with the same key and body. Another body → 422; still running → 409.
 */
export const idempotency = createMiddleware<AppEnv>(async (c, next) => {
  const key = c.req.header("idempotency-key");
  if (c.req.method !== "POST" || key === undefined) return next();
  if (key.length === 0 || key.length > 255 || !/^[\x21-\x7e]+$/.test(key)) {
    throw new AppError("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 visible ASCII characters", {
      errors: [{ header: "Idempotency-Key", code: "invalid", detail: "1 to 255 visible ASCII characters" }],
    });
  }
  const org = c.var.auth.org;
  const db = c.env.DB;
  const url = new URL(c.req.url);
  const body = await c.req.raw.clone().arrayBuffer();
  const bodyHash = await sha256Hex(body);
  const requestHash = await sha256Hex(`${c.req.method} ${url.pathname}${url.search}\n${bodyHash}`);

  const now = Date.now();
  const claimed = await db
    .prepare(
      `INSERT INTO idempotency_keys (org, key, request_hash, state, created_at, expires_at)
       VALUES (?1, ?2, ?3, 'in_flight', ?4, ?5)
       ON CONFLICT (org, key) DO UPDATE SET request_hash = ?3, state = 'in_flight', response_status = NULL,
         response_headers = NULL, response_body = NULL, created_at = ?4, expires_at = ?5
       WHERE idempotency_keys.expires_at < ?4`,
    )
    .bind(org, key, requestHash, new Date(now).toISOString(), new Date(now + IN_FLIGHT_LEASE_MS).toISOString())
    .run();

  if (claimed.meta.changes === 0) {
    const row = await db
      .prepare("SELECT request_hash, state, response_status, response_headers, response_body FROM idempotency_keys WHERE org = ? AND key = ?")
      .bind(org, key)
      .first<StoredKey>();
    if (!row) throw new AppError("idempotency_key_in_flight", "The Idempotency-Key is being released; retry shortly");
    if (row.request_hash !== requestHash) {
      throw new AppError("idempotency_key_reused", "This Idempotency-Key was already used with a different request");
    }
    if (row.state === "in_flight") throw new AppError("idempotency_key_in_flight");
    const headers = new Headers(JSON.parse(row.response_headers ?? "{}") as Record<string, string>);
    headers.set("idempotent-replayed", "true");
    headers.set("x-request-id", c.var.requestId);
    return c.body(row.response_body ?? "", row.response_status as 200, Object.fromEntries(headers));
  }

  await next();

  const res = c.res;
  if (res.status >= 500 || NOT_STORED.has(res.status)) {
    await db.prepare("DELETE FROM idempotency_keys WHERE org = ? AND key = ? AND state = 'in_flight'").bind(org, key).run();
    return;
  }
  const stored: Record<string, string> = {};
  for (const name of ["content-type", "location"]) {
    const v = res.headers.get(name);
    if (v) stored[name] = v;
  }
  await db
    .prepare(
      `UPDATE idempotency_keys SET state = 'done', response_status = ?3, response_headers = ?4, response_body = ?5, expires_at = ?6
       WHERE org = ?1 AND key = ?2`,
    )
    .bind(org, key, res.status, JSON.stringify(stored), await res.clone().text(), new Date(Date.now() + KEY_TTL_MS).toISOString())
    .run();
});
