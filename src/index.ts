import { createApp } from "./app";
import { runCron } from "./cron";
import type { Env } from "./env";

export { FundingPool } from "../durable-objects/funding-pool";

const app = createApp();

export default {
  fetch: app.fetch,
  async queue(batch, env, ctx) {
    // Delivery consumers arrive with the delivery issue; until then nothing is enqueued.
    for (const msg of batch.messages) msg.ack();
  },
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(runCron(env, controller.cron, new Date(controller.scheduledTime)));
  },
} satisfies ExportedHandler<Env>;
