/**
 * One HTTP attempt of one message: the Standard Webhooks body and headers (signed with the
 * `standardwebhooks` library, by both secrets during a rotation), a 15 s timeout, no redirects
 * followed, and what came back (status, latency, the first 1 KB, Retry-After).
 */
import { Webhook } from "standardwebhooks";
import type { Env } from "../env";
import type { EndpointRow } from "./endpoints.service";
import { parseRetryAfter, SEND_TIMEOUT_MS } from "./retry-schedule";
import { openSecret } from "./secrets";

export const RESPONSE_KEEP_BYTES = 1024;

export interface EventRow {
  id: string;
  seq: number;
  type: string;
  data: string;
  created_at: string;
}

export interface Attempt {
  statusCode: number | null;
  latencyMs: number;
  body: string | null;
  error: string | null;
  retryAfterS: number | null;
  /** No answer within the timeout. */
  timedOut?: boolean;
}

/** The body, built around the stored `data` JSON rather than parsing and re-serialising it (one per send). */
export function payloadOf(ev: EventRow): string {
  return `{"id":${JSON.stringify(ev.id)},"type":${JSON.stringify(ev.type)},"created_at":${JSON.stringify(ev.created_at)},"sequence":${ev.seq},"data":${ev.data}}`;
}

/**
 * The timeout (15 s; the fast lane's 2 s, src/webhooks/lanes.ts) as an AbortSignal shared by the sends
 * that start within the same tenth of it (a timer per send costs more than the send's own JavaScript):
 * each send gets between 90 % and all of it.
 */
export class SendTimeout {
  #signal: AbortSignal | null = null;
  #at = 0;
  constructor(readonly ms: number = SEND_TIMEOUT_MS) {}
  get signal(): AbortSignal {
    const now = Date.now();
    if (!this.#signal || now - this.#at >= this.ms / 10) {
      this.#signal = AbortSignal.timeout(this.ms);
      this.#at = now;
    }
    return this.#signal;
  }
}

/**
 * The signing keys of an endpoint at `at`: its secret, and the previous one while the rotation overlap
 * lasts. `standardwebhooks` reads each secret (the `whsec_` prefix, base64) exactly as its `verify` will;
 * its key bytes are imported once per run as a WebCrypto HMAC key, so each message is one native HMAC
 * instead of the library's JavaScript SHA-256 with the key set up again (test/webhooks.test.ts checks
 * the signature against the library's own `sign` and `verify`).
 */
export async function signers(env: Env, endpoint: EndpointRow, at: Date): Promise<CryptoKey[]> {
  const secrets = [await openSecret(env, endpoint.org, endpoint.id, { ciphertext: endpoint.secret_ciphertext, iv: endpoint.secret_iv })];
  if (endpoint.previous_ciphertext && endpoint.previous_iv && endpoint.previous_expires_at && endpoint.previous_expires_at > at.toISOString()) {
    secrets.push(await openSecret(env, endpoint.org, endpoint.id, { ciphertext: endpoint.previous_ciphertext, iv: endpoint.previous_iv }));
  }
  return Promise.all(
    secrets.map((s) =>
      crypto.subtle.importKey("raw", (new Webhook(s) as unknown as { key: Uint8Array }).key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]),
    ),
  );
}

const encoder = new TextEncoder();
const base64 = (bytes: ArrayBuffer) => btoa(String.fromCharCode(...new Uint8Array(bytes)));

/** webhook-signature: one `v1,<base64 HMAC-SHA256 of id.timestamp.body>` per live secret, space-separated (Standard Webhooks). */
export async function sign(keys: CryptoKey[], msgId: string, at: Date, body: string): Promise<string> {
  const data = encoder.encode(`${msgId}.${Math.floor(at.getTime() / 1000)}.${body}`);
  const macs = await Promise.all(keys.map((k) => crypto.subtle.sign("HMAC", k, data)));
  return macs.map((m) => `v1,${base64(m)}`).join(" ");
}

async function firstBytes(res: Response): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < RESPONSE_KEEP_BYTES) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => {});
  const all = new Uint8Array(size);
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.byteLength;
  }
  return new TextDecoder().decode(all.subarray(0, RESPONSE_KEEP_BYTES));
}

/** POSTs one event to `url` (already checked by the SSRF guard). Never throws. */
export async function post(url: string, keys: CryptoKey[], ev: EventRow, now: Date, f: typeof fetch, timeout: SendTimeout): Promise<Attempt> {
  const body = payloadOf(ev);
  const signature = await sign(keys, ev.id, now, body);
  const started = Date.now();
  try {
    const res = await f(url, {
      method: "POST",
      redirect: "manual",
      signal: timeout.signal,
      headers: {
        "content-type": "application/json",
        "user-agent": "Rewardrail-Webhooks/1",
        "webhook-id": ev.id,
        "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
        "webhook-signature": signature,
      },
      body,
    });
    const text = await firstBytes(res).catch(() => "");
    const latencyMs = Date.now() - started;
    const redirect = res.status >= 300 && res.status < 400;
    const error = res.status >= 200 && res.status < 300 ? null : redirect ? `redirect ${res.status} not followed` : `HTTP ${res.status}`;
    return { statusCode: res.status, latencyMs, body: text, error, retryAfterS: parseRetryAfter(res.headers.get("retry-after"), now) };
  } catch (err) {
    const e = err as Error;
    const timedOut = e?.name === "TimeoutError" || e?.name === "AbortError";
    const error =
      timedOut && timeout.ms < SEND_TIMEOUT_MS
        ? `no answer within ${timeout.ms} ms in the fast lane: sent again from the slow lane`
        : timedOut
          ? `timed out after ${timeout.ms} ms`
          : `network error: ${String(e?.message ?? e).slice(0, 200)}`;
    return { statusCode: null, latencyMs: Date.now() - started, body: null, error, retryAfterS: null, timedOut };
  }
}
