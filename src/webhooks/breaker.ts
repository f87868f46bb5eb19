/**
 * An endpoint's circuit breaker. After a failed attempt (not a manual one) the endpoint's messages
 * that have not started are put off, without an attempt, until `breaker_until`; then one probe goes
 * first, and the rest follow only if it got through (src/webhooks/send.ts). The breaker stays open
 * as long as the endpoint has been failing, between 5 s and 5 min, or as long as the receiver's
 * Retry-After asks (up to a day). Each message keeps its own retry schedule meanwhile: a message put
 * off has not been attempted, so it loses none of its ten attempts.
 */
import type { EndpointRow } from "./endpoints.service";

const MIN_OPEN_S = 5;
const MAX_OPEN_S = 5 * 60;
const MAX_RETRY_AFTER_S = 24 * 3600;

export const breakerOpen = (ep: Pick<EndpointRow, "breaker_until">, now: Date) => !!ep.breaker_until && ep.breaker_until > now.toISOString();

/** How long the breaker opens after a failure at `now`. */
export function breakerDelayS(ep: Pick<EndpointRow, "failing_since">, now: Date, retryAfterS: number | null): number {
  const failingS = ep.failing_since ? Math.floor((now.getTime() - Date.parse(ep.failing_since)) / 1000) : 0;
  const open = Math.min(MAX_OPEN_S, Math.max(MIN_OPEN_S, failingS));
  return retryAfterS && retryAfterS > open ? Math.min(retryAfterS, MAX_RETRY_AFTER_S) : open;
}
