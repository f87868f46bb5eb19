/**
 * The benchmarks' Worker entry (test/bench/worker.mjs builds it instead of src/index.ts). It is the
 * deployed Worker plus the bench counters: the queue handler, the /v1/redemptions requests and the
 * stored-value cards' Durable Objects run on an env whose D1 and pool bindings count their calls
 * (src/dev/metrics.ts), GET /dev/bench/metrics[?reset] reports them, POST /dev/bench/pools drives one
 * pool's Durable Object from inside the Worker (src/dev/pool-bench.ts) and POST
 * /dev/bench/redemption-probe is the redemptions bench's reference (src/dev/redemption-probe.ts).
 * Nothing here is reachable from src/index.ts, so none of it is in the deployed bundle.
 */
import type { Env } from "../env";
import { StoredValueCard as Card } from "../../durable-objects/stored-value-card";
import worker from "../index";
import { counters, instrument, resetCounters, writesByStatement } from "./metrics";
import { poolBench } from "./pool-bench";
import { PROBE_PATH, redemptionProbe } from "./redemption-probe";

export { FundingPool } from "../../durable-objects/funding-pool";

/** The card object with counted D1 calls: its mirror writes are what a redemption costs D1. */
export class StoredValueCard extends Card {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, instrument(env));
  }
}

const METRICS_PATH = "/dev/bench/metrics";
const POOL_BENCH_PATH = "/dev/bench/pools";

function metrics(url: URL): Response {
  const snapshot = { ...counters, d1_rows_written_by_statement: { ...writesByStatement } };
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
    // Redemption requests count their D1 reads and writes too (the other requests would blur the delivery bench's).
    return worker.fetch(request, pathname.startsWith("/v1/redemptions") ? instrument(env) : env, ctx);
  },
  queue(batch, env, ctx) {
    return worker.queue(batch, instrument(env), ctx);
  },
  scheduled(controller, env, ctx) {
    return worker.scheduled(controller, env, ctx);
  },
} satisfies ExportedHandler<Env>;
