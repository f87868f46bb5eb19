/**
 * The benchmarks' Worker entry (test/bench/worker.mjs builds it instead of src/index.ts). It is the
 * deployed Worker plus the bench counters: the queue handler runs on an env whose D1 and pool
 * bindings count their calls (src/dev/metrics.ts), and so do the schedules queue's and the event
 * routes' (counted apart, under `schedules` and `events`), GET /dev/bench/metrics[?reset] reports them, and
 * POST /dev/bench/pools drives one pool's Durable Object from inside the Worker (src/dev/pool-bench.ts).
 * Nothing here is reachable from src/index.ts, so none of it is in the deployed bundle.
 */
import type { Env } from "../env";
import worker from "../index";
import { QUEUES } from "../queues/messages";
import { runScheduledTriggers } from "../schedules/tick";
import { counters, eventCounters, instrument, resetCounters, scheduleCounters } from "./metrics";
import { poolBench } from "./pool-bench";

export { FundingPool } from "../../durable-objects/funding-pool";
export { StoredValueCard } from "../../durable-objects/stored-value-card";
/** The pools bench's reference: one bare write per RPC (bound by test/bench/worker.mjs only). */
export { BenchProbe } from "./bench-probe";

const METRICS_PATH = "/dev/bench/metrics";
const POOL_BENCH_PATH = "/dev/bench/pools";
/** POST ?at=<ISO>: runs the scheduled triggers' tick as if the clock said `at` (the schedules bench plays a day hour by hour). */
const SCHEDULE_TICK_PATH = "/dev/bench/schedules/tick";

function metrics(url: URL): Response {
  const snapshot = { ...counters, schedules: { ...scheduleCounters }, events: { ...eventCounters } };
  if (url.searchParams.has("reset")) resetCounters();
  return Response.json(snapshot);
}

export default {
  fetch(request, env, ctx) {
    if (env.ENVIRONMENT === "bench" && request.url.includes(METRICS_PATH)) {
      const url = new URL(request.url);
      if (url.pathname === METRICS_PATH && request.method === "GET") return metrics(url);
    }
    const path = new URL(request.url).pathname;
    if (env.ENVIRONMENT === "bench" && path === POOL_BENCH_PATH) return poolBench.fetch(request, env, ctx);
    // The event routes evaluate inline: their D1 and pool calls are counted apart from the queue consumers'.
    if (env.ENVIRONMENT === "bench" && path.startsWith("/v1/events")) return worker.fetch(request, instrument(env, eventCounters), ctx);
    if (env.ENVIRONMENT === "bench" && path === SCHEDULE_TICK_PATH && request.method === "POST") {
      const at = new URL(request.url).searchParams.get("at") ?? new Date().toISOString();
      return runScheduledTriggers(instrument(env, scheduleCounters), new Date(at)).then((r) => Response.json(r));
    }
    return worker.fetch(request, env, ctx);
  },
  queue(batch, env, ctx) {
    // The schedules queue counts apart, so a run's figures are not mixed with the deliveries it causes.
    return worker.queue(batch, instrument(env, batch.queue === QUEUES.schedules ? scheduleCounters : counters), ctx);
  },
  scheduled(controller, env, ctx) {
    return worker.scheduled(controller, env, ctx);
  },
} satisfies ExportedHandler<Env>;
