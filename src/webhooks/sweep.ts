/**
 * The cron sweep (every 5 minutes): outbox events a crash left undispatched after their commit, and
 * messages whose queue message was lost (due for 10 minutes, leased and abandoned or not), go back on
 * the webhooks queue. Only the head of each endpoint + entity line is re-queued; the rest follow it.
 * Messages of an endpoint whose breaker is open are left alone: the run that put them off queued them.
 * An org with an endpoint whose backlog waits to be drained (it no longer fails, or it is disabled;
 * backlog.ts) gets a `webhook_dispatch` too, so a backlog never waits for the org's next event.
 */
import type { Env } from "../env";
import { sendWebhookMessages } from "../queues/messages";

const GRACE_MS = 60_000;
const LOST_MS = 10 * 60_000;
const LIMIT = 500;

export async function sweepWebhooks(env: Env, now: Date): Promise<{ orgs: number; messages: number }> {
  const { results: orgs } = await env.DB.prepare("SELECT DISTINCT org FROM webhook_events WHERE dispatched_at IS NULL AND created_at < ? LIMIT ?")
    .bind(new Date(now.getTime() - GRACE_MS).toISOString(), LIMIT)
    .all<{ org: string }>();
  const { results: backlogs } = await env.DB.prepare(
    "SELECT DISTINCT org FROM webhook_endpoints WHERE backlog_from_seq IS NOT NULL AND (failing_since IS NULL OR enabled = 0) LIMIT ?",
  )
    .bind(LIMIT)
    .all<{ org: string }>();
  for (const b of backlogs) if (!orgs.some((o) => o.org === b.org)) orgs.push(b);
  const lostBefore = new Date(now.getTime() - LOST_MS).toISOString();
  const { results: lost } = await env.DB.prepare(
    // One range of the partial index of pending messages. A message being sent is pending with a lease
    // (send.ts): if its sender died, it is found here once due for 10 minutes; if not, its claim refuses it.
    `WITH due AS (SELECT id, org, endpoint_id, entity_id, event_seq FROM webhook_messages WHERE status = 'pending' AND next_attempt_at < ?1)
       SELECT m.id, m.org FROM due m
       WHERE NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = m.endpoint_id AND e.breaker_until > ?2)
         AND NOT EXISTS (SELECT 1 FROM webhook_messages p WHERE p.endpoint_id = m.endpoint_id AND p.entity_id = m.entity_id
                         AND p.event_seq < m.event_seq AND p.status IN ('pending', 'sending'))
       LIMIT ?3`,
  )
    .bind(lostBefore, now.toISOString(), LIMIT)
    .all<{ id: string; org: string }>();
  await sendWebhookMessages(env.WEBHOOK_QUEUE, [
    ...orgs.map((o) => ({ type: "webhook_dispatch" as const, org: o.org })),
    ...lost.map((m) => ({ type: "webhook_send" as const, org: m.org, messageId: m.id })),
  ]);
  return { orgs: orgs.length, messages: lost.length };
}
