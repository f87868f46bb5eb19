/**
 * Crash points for the fault-injection tests: when the FAILPOINTS binding names a point, the
 * consumer throws there, exactly as if the Worker died on that line. Never set in production.
 */
import type { Env } from "../env";

export type Failpoint = "after_claim" | "after_reward" | "after_commit" | "after_send" | "before_ack";

export function failpoint(env: Env, point: Failpoint): void {
  if (env.FAILPOINTS?.split(",").includes(point)) throw new Error(`failpoint ${point}`);
}
