import { AppError } from "../core/errors";

/**
 * Support paths that re-run a delivery outside the queue (exception retry or cancel, reissue) are
 * built around a batch's hold. A campaign reward (no batch) is refused there for now: its value was
 * committed from the campaign hold when the event was evaluated, and a failed send gives it back.
 */
export function batchOf(d: { id: string; batchId: string | null }): string {
  if (d.batchId === null) {
    throw new AppError("invalid_state_transition", `Delivery ${d.id} is a campaign reward; this action is only available for batch deliveries`);
  }
  return d.batchId;
}
