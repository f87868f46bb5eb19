/**
 * The delivery retry policy, in one place (DESIGN.md "Delivery"). A failed send is classified once
 * (`classifyStatus`) and the class decides what happens to the delivery:
 * - transient (5xx, 429, 408, timeouts, network errors): back to `queued` and the message retried
 *   after the provider's Retry-After or `backoffSeconds(attempt)`;
 * - data (a 4xx such as a bad address, a hard bounce): `failed` at once, value back to the hold,
 *   an exception opened; no retry;
 * - policy (no provider configured, 401/403, a pool limit, inventory exhausted): `held` for review.
 * After MAX_RETRIES retries the queue moves the message to DEAD_LETTER_QUEUE, whose consumer fails
 * the delivery (src/queues/dead-letter.consumer.ts). Deliveries whose message was lost are found by
 * the sweep after STUCK_AFTER_MS (src/delivery/sweep.ts).
 *
 * MAX_RETRIES and DEAD_LETTER_QUEUE restate the deliveries consumer of wrangler.toml, where the
 * queue reads them; test/retry-policy.test.ts fails when the two differ.
 */
import { QUEUES } from "../queues/messages";

export type ErrorClass = "transient" | "data" | "policy";

export function classifyStatus(status: number | null): ErrorClass {
  if (status === null || status === 408 || status === 429 || status >= 500) return "transient";
  if (status === 401 || status === 403) return "policy";
  return "data";
}

/** Retries of one deliveries-queue message before it is dead-lettered (wrangler.toml `max_retries`). */
export const MAX_RETRIES = 8;
export const DELIVERY_QUEUE = QUEUES.deliveries;
/** Where messages go after MAX_RETRIES (wrangler.toml `dead_letter_queue`). */
export const DEAD_LETTER_QUEUE = QUEUES.deliveriesDeadLetter;

/** Capped exponential backoff: 5 s, 10 s, 20 s … at most 10 minutes. */
export const backoffSeconds = (attempt: number) => Math.min(600, 5 * 2 ** Math.max(0, attempt - 1));

/** How long a consumer's claim on a delivery lasts; a crashed consumer's claim is taken over after it. */
export const LEASE_MS = 60_000;

/** A dead-letter message whose handling failed (D1 or the pool unreachable) comes back after this. */
export const DEAD_LETTER_RETRY_SECONDS = 30;

/** How long one email provider call may take before it counts as transient (EMAIL_TIMEOUT_MS overrides). */
export const EMAIL_TIMEOUT_MS = 15_000;
/** How long one SMS provider call may take before it counts as transient. */
export const SMS_TIMEOUT_MS = 10_000;

/** A delivery `queued`, or `sending` with its lease run out, this long has most likely lost its message: the sweep sends another. */
export const STUCK_AFTER_MS = 15 * 60_000;
