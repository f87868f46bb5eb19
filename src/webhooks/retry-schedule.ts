/**
 * When a failed webhook message is tried again: the Standard Webhooks example schedule. Attempt 1 is
 * immediate; after attempt n fails, attempt n+1 comes DELAYS_S[n] seconds later, so the last of the
 * ten attempts comes about 3 days 4 hours after the first. A receiver's Retry-After (429, 503) can
 * push an attempt later, never earlier, and at most a day.
 */
export const DELAYS_S = [0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600, 20 * 3600, 24 * 3600] as const;
export const MAX_ATTEMPTS = DELAYS_S.length;
/** Queues refuse a delaySeconds above 12 h; a longer wait is re-delayed when it comes due early. */
export const MAX_QUEUE_DELAY_S = 12 * 3600;
const MAX_RETRY_AFTER_S = 24 * 3600;
/** An endpoint whose every attempt failed for this long is disabled and its owner emailed. */
export const DISABLE_AFTER_MS = 5 * 24 * 3600 * 1000;
/** How long one send may take (API.md / issue #23: 15 s). */
export const SEND_TIMEOUT_MS = 15_000;

/** Seconds until the next attempt after `attempts` failed ones, or null when the schedule is spent. */
export function nextDelay(attempts: number, retryAfterS?: number | null): number | null {
  if (attempts >= MAX_ATTEMPTS) return null;
  const scheduled = DELAYS_S[attempts]!;
  return retryAfterS && retryAfterS > scheduled ? Math.min(retryAfterS, MAX_RETRY_AFTER_S) : scheduled;
}

/** Retry-After as seconds (delta or HTTP date); null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: Date): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}
