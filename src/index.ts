import { createApp } from "./app";
import { runCron } from "./cron";
import type { Env } from "./env";
import { CONSUMERS } from "./queues/consumers";

export { FundingPool } from "../durable-objects/funding-pool";
export { StoredValueCard } from "../durable-objects/stored-value-card";

const app = createApp();

export default {
  fetch: app.fetch,
  async queue(batch, env, _ctx) {
    const consume = CONSUMERS[batch.queue];
    // A queue bound in wrangler.toml without a consumer here: leave its messages to be retried, never ack them unread.
    if (!consume) throw new Error(`No consumer for queue ${batch.queue}`);
    await consume(batch, env);
  },
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(runCron(env, controller.cron, new Date(controller.scheduledTime)));
  },
} satisfies ExportedHandler<Env>;
