/**
 * The schedules queue's consumer: each message is one step of a scheduled trigger's run
 * (src/schedules/run-step.ts). A page that leaves more sends the next page's message; a failing
 * step is retried with backoff and, out of retries, picked up again by the tick's stale-run sweep.
 */
import { redactTokens } from "../core/redact";
import { backoffSeconds } from "../delivery/retry-policy";
import type { Env } from "../env";
import { runPage, runWait } from "../schedules/run-step";
import { ScheduleMessage, sendScheduleMessages } from "./messages";

export async function consumeSchedules(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  for (const msg of batch.messages) {
    const parsed = ScheduleMessage.safeParse(msg.body);
    if (!parsed.success) {
      console.error(JSON.stringify({ queue: batch.queue, message_id: msg.id, error: "unreadable message, dropped" }));
      msg.ack();
      continue;
    }
    const m = parsed.data;
    try {
      if (m.type === "schedule_page") {
        if ((await runPage(env, m.campaignId, m.occurrence)) === "more") await sendScheduleMessages(env.SCHEDULE_QUEUE, [m]);
      } else {
        await runWait(env, { campaign_id: m.campaignId, occurrence: m.occurrence, due_at: m.dueAt, seq: m.seq });
      }
      msg.ack();
    } catch (err) {
      console.error(JSON.stringify({ queue: batch.queue, message_id: msg.id, attempts: msg.attempts, body: m, error: redactTokens(String(err)) }));
      msg.retry({ delaySeconds: backoffSeconds(msg.attempts) });
    }
  }
}
