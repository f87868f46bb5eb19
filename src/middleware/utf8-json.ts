import { createMiddleware } from "hono/factory";
import { AppError } from "../core/errors";
import { DEFAULT_BODY_LIMIT } from "../core/limits";
import type { AppEnv } from "../env";

const isJson = (contentType: string | undefined) => !!contentType && /^application\/([\w.-]+\+)?json\s*(;|$)/i.test(contentType.trim());

/**
 * A JSON body must be UTF-8 (RFC 8259 §8.1). `Request.json()` decodes leniently, so a stray 0xFF
 * would reach the database as U+FFFD in a name; here the body is decoded strictly first and a
 * broken one answers 400 `invalid_json`. The bytes are handed on as the body (JSON bodies are at
 * most 1 MiB), so the idempotency hash and the validator read them as sent. CSV uploads stream and
 * are decoded strictly by their reader (src/core/csv-stream.ts), so they never pass here.
 */
export const utf8Json = createMiddleware<AppEnv>(async (c, next) => {
  const req = c.req.raw;
  if (req.body === null || !isJson(req.headers.get("content-type") ?? undefined)) return next();
  const bytes = await readAtMost(req.body, DEFAULT_BODY_LIMIT);
  try {
    new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new AppError("invalid_json", "The request body is not valid UTF-8 (JSON must be UTF-8)");
  }
  c.req.raw = new Request(req.url, { method: req.method, headers: req.headers, body: bytes, signal: req.signal });
  await next();
});

/** The whole body, refused (413) as soon as it passes `max` bytes: outside /v1 no body limit ran first. */
async function readAtMost(body: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > max) throw new AppError("payload_too_large", `The body exceeds ${max} bytes`);
    chunks.push(chunk);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
