/**
 * Every channel failure is classified once, here, so delivery decides retry / fail / hold the same
 * way for every provider (DESIGN.md "Delivery"):
 * - transient: 5xx, 429, timeouts, network errors — retry with backoff
 * - data: the address or content is unusable (4xx validation, hard bounce) — fail, no retry
 * - policy: blocked by configuration or rules (no provider, unauthorised sender) — hold for review
 */
export type ErrorClass = "transient" | "data" | "policy";

export type SendResult =
  | { ok: true; providerMessageId: string }
  | { ok: false; errorClass: ErrorClass; status: number | null; retryAfterSeconds?: number; detail: string };

export function classifyStatus(status: number | null): ErrorClass {
  if (status === null || status === 408 || status === 429 || status >= 500) return "transient";
  if (status === 401 || status === 403) return "policy";
  return "data";
}

/** Retry-After as seconds (RFC 9110: delay-seconds or an HTTP date). */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

export function failure(status: number | null, detail: string, retryAfter?: string | null): SendResult {
  return { ok: false, errorClass: classifyStatus(status), status, retryAfterSeconds: parseRetryAfter(retryAfter), detail };
}
