/**
 * The benchmarks' Worker entry (test/bench/worker.mjs builds it instead of src/index.ts). It is the
 * deployed Worker plus the bench counters: the queue handler, the /v1/redemptions requests and the
 * stored-value cards' Durable Objects run on an env whose D1 and pool bindings count their calls
 * (src/dev/metrics.ts; the schedules queue and the event routes count apart, under `schedules` and
 * `events`), GET /dev/bench/metrics[?reset] reports them, POST /dev/bench/pools drives one
 * pool's Durable Object from inside the Worker (src/dev/pool-bench.ts), POST
 * /dev/bench/redemption-probe is the redemptions bench's reference (src/dev/redemption-probe.ts), POST
 * /dev/bench/schedules/tick runs the scheduled triggers' tick at a given time, and POST
 * /dev/bench/webhook-events writes webhook events through the outbox (src/dev/webhook-bench.ts).
 * Nothing here is reachable from src/index.ts, so none of it is in the deployed bundle.
 */
import type { Env } from "../env";
import { StoredValueCard as Card } from "../../durable-objects/stored-value-card";
import worker from "../index";
import { QUEUES } from "../queues/messages";
import { runScheduledTriggers } from "../schedules/tick";
import { counters, eventCounters, instrument, resetCounters, scheduleCounters, writesByTable } from "./metrics";
import { poolBench } from "./pool-bench";
import { PROBE_PATH, redemptionProbe } from "./redemption-probe";
import { webhookBench } from "./webhook-bench";

export { FundingPool } from "../../durable-objects/funding-pool";
/** The pools bench's reference: one bare write per RPC (bound by test/bench/worker.mjs only). */
export { BenchProbe } from "./bench-probe";

/** The card object with counted D1 calls: its mirror writes are what a redemption costs D1. */
export class StoredValueCard extends Card {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, instrument(env));
    counters.card_object_starts++;
  }
}

const METRICS_PATH = "/dev/bench/metrics";
const POOL_BENCH_PATH = "/dev/bench/pools";
/** POST ?at=<ISO>: runs the scheduled triggers' tick as if the clock said `at` (the schedules bench plays a day hour by hour). */
const SCHEDULE_TICK_PATH = "/dev/bench/schedules/tick";
const WEBHOOK_BENCH_PATH = "/dev/bench/webhook-events";

function metrics(url: URL): Response {
  const snapshot = {
    ...counters,
    d1_rows_written_by_statement: writesByTable(counters),
    schedules: { ...scheduleCounters },
    events: { ...eventCounters },
  };
  if (url.searchParams.has("reset")) resetCounters();
  return Response.json(snapshot);
}

export default {
  fetch(request, env, ctx) {
    if (env.ENVIRONMENT === "bench" && request.url.includes(METRICS_PATH)) {
      const url = new URL(request.url);
      if (url.pathname === METRICS_PATH && request.method === "GET") return metrics(url);
    }
    if (env.ENVIRONMENT !== "bench") return worker.fetch(request, env, ctx);
    const { pathname } = new URL(request.url);
    if (pathname === POOL_BENCH_PATH) return poolBench.fetch(request, env, ctx);
    if (pathname === PROBE_PATH && request.method === "POST") return redemptionProbe(request, instrument(env));
    if (pathname === SCHEDULE_TICK_PATH && request.method === "POST") {
      const at = new URL(request.url).searchParams.get("at") ?? new Date().toISOString();
      return runScheduledTriggers(instrument(env, scheduleCounters), new Date(at)).then((r) => Response.json(r));
    }
    if (pathname === WEBHOOK_BENCH_PATH) return webhookBench.fetch(request, env, ctx);
    // The event routes evaluate inline: their D1 and pool calls are counted apart from the queue consumers'.
    if (pathname.startsWith("/v1/events")) return worker.fetch(request, instrument(env, eventCounters), ctx);
    // Redemption requests count their D1 reads and writes too (the other requests would blur the delivery bench's).
    return worker.fetch(request, pathname.startsWith("/v1/redemptions") ? instrument(env) : env, ctx);
  },
  queue(batch, env, ctx) {
    // The schedules queue counts apart, so a run's figures are not mixed with the deliveries it causes.
    return worker.queue(batch, instrument(env, batch.queue === QUEUES.schedules ? scheduleCounters : counters), ctx);
  },
  scheduled(controller, env, ctx) {
    return worker.scheduled(controller, env, ctx);
  },
} satisfies ExportedHandler<Env>;
