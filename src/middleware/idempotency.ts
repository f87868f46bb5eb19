import { createHash } from "node:crypto";
import { createMiddleware } from "hono/factory";
import { AppError } from "../core/errors";
import { sha256Hex } from "../core/crypto";
import { UPLOAD_BODY_LIMIT } from "../core/limits";
import type { AppEnv } from "../env";

const KEY_TTL_MS = 24 * 60 * 60 * 1000;
/** How long a claimed key stays locked while its first request runs; a crashed request frees it after this. */
const IN_FLIGHT_LEASE_MS = 2 * 60 * 1000;
/** Responses that say nothing about the operation are not stored, so a corrected retry can go through. */
const NOT_STORED = new Set([401, 403, 429]);
/** A body of at most this many bytes that is empty or `{}` once trimmed counts as no body at all. */
const EMPTY_BODY_BYTES = 16;
const EMPTY = "empty";

interface StoredKey {
  request_hash: string;
  state: "in_flight" | "done";
  response_status: number | null;
  response_headers: string | null;
  response_body: string | null;
}

/**
 * A request body as a stream that hashes (SHA-256) whatever passes through it, so the handler reads
 * the body as it arrives while the middleware learns its hash without holding it. `finish()` reads
 * and hashes what the handler left unread (if the handler stops early, its cancel leaves the rest to
 * finish), up to `maxBytes`; it returns the hex digest, or null past that or when the body broke off.
 */
function hashingBody(body: ReadableStream<Uint8Array> | null, maxBytes: number) {
  const hash = createHash("sha256");
  const reader = body?.getReader();
  let bytes = 0;
  let head = "";
  let done = !reader;
  let reading: Promise<unknown> = Promise.resolve();
  const next = async (): Promise<Uint8Array | undefined> => {
    const r = await reader!.read();
    if (r.done) {
      done = true;
      return undefined;
    }
    bytes += r.value.byteLength;
    if (bytes <= EMPTY_BODY_BYTES) head += new TextDecoder().decode(r.value);
    hash.update(r.value);
    return r.value;
  };
  const stream = reader
    ? new ReadableStream<Uint8Array>(
        {
          async pull(controller) {
            const read = next();
            reading = read;
            const chunk = await read;
            if (chunk) controller.enqueue(chunk);
            else controller.close();
          },
          cancel() {},
        },
        { highWaterMark: 0 },
      )
    : null;
  return {
    stream,
    async finish(): Promise<string | null> {
      await reading.catch(() => {});
      try {
        while (!done && bytes <= maxBytes) await next();
      } catch {
        return null; // the client went away mid-body
      }
      if (bytes > maxBytes) {
        await reader!.cancel().catch(() => {});
        return null;
      }
      // No body and `{}` are the same request (README: POSTs that take nothing accept either).
      if (bytes <= EMPTY_BODY_BYTES && (head.trim() === "" || head.trim() === "{}")) return EMPTY;
      return hash.digest("hex");
    },
  };
}

const requestHashOf = (target: string, bodyHash: string) => sha256Hex(`${target}\n${bodyHash}`);

/**
 * Idempotency-Key for POSTs (API.md): the first request with a key claims it in D1 (one conditional
 * insert, so of many concurrent requests exactly one runs); its response is stored with the request's
 * hash and replayed to later requests with the same key and body. Another body → 422; still running
 * → 409. The body streams to the handler through a hash (uploads are up to 32 MiB and are never held
 * whole), so the claim is taken before the hash is known and the hash is stored with the response.
 * Keys belong to the caller (org and `sub`): two people of an org who pick the same key (say
 * `approve-<batch>`) make two requests, not one replayed to the other.
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
  // The key column holds the caller and the key; keys are visible ASCII, so the last \x1f splits them.
  const scopedKey = `${c.var.auth.sub}\x1f${key}`;
  const db = c.env.DB;
  const url = new URL(c.req.url);
  const target = `${c.req.method} ${url.pathname}${url.search}`;

  const now = Date.now();
  const claimed = await db
    .prepare(
      `INSERT INTO idempotency_keys (org, key, request_hash, state, created_at, expires_at)
       VALUES (?1, ?2, '', 'in_flight', ?3, ?4)
       ON CONFLICT (org, key) DO UPDATE SET request_hash = '', state = 'in_flight', response_status = NULL,
         response_headers = NULL, response_body = NULL, created_at = ?3, expires_at = ?4
       WHERE idempotency_keys.expires_at < ?3`,
    )
    .bind(org, scopedKey, new Date(now).toISOString(), new Date(now + IN_FLIGHT_LEASE_MS).toISOString())
    .run();

  if (claimed.meta.changes === 0) {
    const row = await db
      .prepare("SELECT request_hash, state, response_status, response_headers, response_body FROM idempotency_keys WHERE org = ? AND key = ?")
      .bind(org, scopedKey)
      .first<StoredKey>();
    if (!row) throw new AppError("idempotency_key_in_flight", "The Idempotency-Key is being released; retry shortly", { retry_after_seconds: 1 });
    if (row.state === "in_flight") throw new AppError("idempotency_key_in_flight", undefined, { retry_after_seconds: 2 });
    const bodyHash = await hashingBody(c.req.raw.body, UPLOAD_BODY_LIMIT).finish();
    if (bodyHash === null) throw new AppError("payload_too_large", `The body exceeds ${UPLOAD_BODY_LIMIT} bytes`);
    if (row.request_hash !== (await requestHashOf(target, bodyHash))) {
      throw new AppError("idempotency_key_reused", "This Idempotency-Key was already used with a different request");
    }
    const headers = new Headers(JSON.parse(row.response_headers ?? "{}") as Record<string, string>);
    headers.set("idempotent-replayed", "true");
    headers.set("x-request-id", c.var.requestId);
    return c.body(row.response_body ?? "", row.response_status as 200, Object.fromEntries(headers));
  }

  const body = hashingBody(c.req.raw.body, UPLOAD_BODY_LIMIT);
  if (body.stream) c.req.raw = new Request(c.req.raw, { body: body.stream });
  await next();

  const res = c.res;
  const bodyHash = await body.finish();
  // A body past the largest any route takes, or one that broke off, cannot be recognised again: nothing is stored.
  if (bodyHash === null || res.status >= 500 || NOT_STORED.has(res.status) || (res.status === 409 && (await isPassingConflict(res)))) {
    await db.prepare("DELETE FROM idempotency_keys WHERE org = ? AND key = ? AND state = 'in_flight'").bind(org, scopedKey).run();
    return;
  }
  const stored: Record<string, string> = {};
  for (const name of ["content-type", "location"]) {
    const v = res.headers.get(name);
    if (v) stored[name] = v;
  }
  await db
    .prepare(
      `UPDATE idempotency_keys SET state = 'done', request_hash = ?3, response_status = ?4, response_headers = ?5, response_body = ?6, expires_at = ?7
       WHERE org = ?1 AND key = ?2`,
    )
    .bind(
      org,
      scopedKey,
      await requestHashOf(target, bodyHash),
      res.status,
      JSON.stringify(stored),
      await res.clone().text(),
      new Date(Date.now() + KEY_TTL_MS).toISOString(),
    )
    .run();
});

/** A 409 `conflict` only says "not now" (another upload or action holds a lock): a retry later must run. */
async function isPassingConflict(res: Response): Promise<boolean> {
  try {
    return ((await res.clone().json()) as { code?: string }).code === "conflict";
  } catch {
    return false;
  }
}
