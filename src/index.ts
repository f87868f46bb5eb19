import { createApp } from "./app";
import { runCron } from "./cron";
import { consume } from "./delivery/consumer";
import { instrument } from "./dev/metrics";
import type { Env } from "./env";

export { FundingPool } from "../durable-objects/funding-pool";
export { StoredValueCard } from "../durable-objects/stored-value-card";

const app = createApp();

export default {
  fetch: app.fetch,
  async queue(batch, env, _ctx) {
    await consume(batch, instrument(env));
  },
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(runCron(env, controller.cron, new Date(controller.scheduledTime)));
  },
} satisfies ExportedHandler<Env>;
