/**
 * A channel's answer to one send. A failure carries its class, decided from the provider's status
 * by the delivery retry policy (src/delivery/retry-policy.ts), so delivery decides retry / fail /
 * hold the same way for every provider.
 */
import { classifyStatus, type ErrorClass } from "../delivery/retry-policy";

export type { ErrorClass };

export type SendResult =
  | { ok: true; providerMessageId: string }
  | { ok: false; errorClass: ErrorClass; status: number | null; retryAfterSeconds?: number; detail: string };

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
