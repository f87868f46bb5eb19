/**
 * Two lanes, two queues, one consumer (src/queues/webhooks.consumer.ts). The fast lane
 * (`rewardrail-webhooks`) serves endpoints that answer; the slow lane (`rewardrail-webhooks-slow`)
 * serves endpoints that are failing (`failing_since` set, so their breaker tripped) or slow (a send in
 * the fast lane got no answer within FAST_LANE_WAIT_MS, so `slow_lane_until` is set for
 * SLOW_LANE_HOLD_MS). A consumer invocation waits for its slowest send, so a dead or hanging receiver
 * in the fast lane would hold up every healthy one sent alongside it; in its own lane it holds up
 * only its own kind.
 *
 * The fast lane hands over: a group naming a slow endpoint goes to the slow queue unread; a message of
 * a slow endpoint met in a run is put off to the slow queue without an attempt; a send still
 * unanswered after FAST_LANE_WAIT_MS is abandoned (recorded as an attempt that does not count towards
 * the ten, error "no answer within 2000 ms…") and resent from the slow lane, where it waits the full
 * 15 s. The receiver may so see it twice, with the same `webhook-id` (Standard Webhooks delivers at
 * least once). The lanes only decide who sends: order and the schedule live on the message rows.
 */
import type { Env } from "../env";
import type { EndpointRow } from "./endpoints.service";
import { SEND_TIMEOUT_MS } from "./retry-schedule";

export type Lane = "fast" | "slow";

/** How long a send may go unanswered in the fast lane before the slow lane takes it over. */
export const FAST_LANE_WAIT_MS = 2_000;
/** How long an endpoint that was slow to answer stays in the slow lane. */
export const SLOW_LANE_HOLD_MS = 10 * 60_000;

export const laneOfQueue = (queue: string): Lane => (queue.endsWith("-slow") ? "slow" : "fast");

export const laneQueue = (env: Env, lane: Lane): Queue => (lane === "slow" ? env.WEBHOOK_SLOW_QUEUE : env.WEBHOOK_QUEUE);

/** The lane an endpoint's messages belong in at `now`. */
export function endpointLane(ep: Pick<EndpointRow, "failing_since" | "breaker_until" | "slow_lane_until">, now: Date): Lane {
  const at = now.toISOString();
  return ep.failing_since || (ep.breaker_until && ep.breaker_until > at) || (ep.slow_lane_until && ep.slow_lane_until > at) ? "slow" : "fast";
}

/** How long a send may wait for its answer in a lane (manual sends wait the full time). */
export const laneTimeoutMs = (lane: Lane, manual = false): number => (lane === "fast" && !manual ? FAST_LANE_WAIT_MS : SEND_TIMEOUT_MS);
