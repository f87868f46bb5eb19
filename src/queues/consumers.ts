/** One consumer per queue of wrangler.toml, by queue name; src/index.ts's `queue()` dispatches here. */
import type { Env } from "../env";
import { consumeDeadLetters } from "./dead-letter.consumer";
import { consumeDeliveries } from "./deliveries.consumer";
import { QUEUES } from "./messages";
import { consumeReconciliations } from "./reconciliations.consumer";
import { consumeSchedules } from "./schedules.consumer";
import { consumeWebhooks } from "./webhooks.consumer";

export type Consumer = (batch: MessageBatch<unknown>, env: Env) => Promise<void>;

export const CONSUMERS: Readonly<Record<string, Consumer>> = {
  [QUEUES.deliveries]: consumeDeliveries,
  [QUEUES.deliveriesDeadLetter]: consumeDeadLetters,
  [QUEUES.reconciliations]: consumeReconciliations,
  [QUEUES.webhooks]: consumeWebhooks,
  [QUEUES.webhooksSlow]: consumeWebhooks,
  [QUEUES.schedules]: consumeSchedules,
};
