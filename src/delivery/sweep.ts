/**
 * The stuck-delivery sweeps (cron, every 5 minutes). A delivery of a delivering batch that has sat
 * `queued`, or `sending` with its lease run out, for STUCK_AFTER_MS most likely lost its queue
 * message. It gets a new deliver message; delivery is idempotent, so a message that was merely
 * slow costs nothing but a no-op. Bounded per run; the next run takes the rest.
 *
 * A release can stop earlier, before those deliveries exist: a batch left `releasing` (its release
 * message lost) or `delivering` with chunks never fanned out (a chunk message lost, or a crash
 * between planning the chunks and sending them). Its release message is sent again: the release
 * step plans nothing twice and sends the undone chunks, whose deliveries are created once.
 */
import type { Env } from "../env";
import { sendMessages } from "../queues/messages";
import { STUCK_AFTER_MS } from "./retry-policy";

const MAX_PER_RUN = 5_000;
const MAX_RELEASES_PER_RUN = 100;

export async function sweepStuckDeliveries(env: Env, now: Date): Promise<number> {
  const cutoff = new Date(now.getTime() - STUCK_AFTER_MS).toISOString();
  const { results } = await env.DB.prepare(
    `SELECT d.id, d.org, d.batch_id FROM batches b
     JOIN deliveries d ON d.batch_id = b.id AND d.status IN ('queued', 'sending') AND d.status <> 'delivered'
     WHERE b.status = 'delivering' AND d.updated_at < ?1 AND (d.claimed_until IS NULL OR d.claimed_until < ?2)
     LIMIT ?3`,
  )
    .bind(cutoff, now.toISOString(), MAX_PER_RUN)
    .all<{ id: string; org: string; batch_id: string }>();
  if (results.length === 0) return 0;
  // Touched first, so a sweep that dies after sending does not send them all again at once.
  await env.DB.prepare("UPDATE deliveries SET updated_at = ? WHERE id IN (SELECT value FROM json_each(?))")
    .bind(now.toISOString(), JSON.stringify(results.map((r) => r.id)))
    .run();
  await sendMessages(
    env.DELIVERY_QUEUE,
    results.map((r) => ({ type: "deliver" as const, org: r.org, batchId: r.batch_id, deliveryId: r.id })),
  );
  console.log(JSON.stringify({ job: "delivery.sweep", requeued: results.length }));
  return results.length;
}

export async function sweepStalledReleases(env: Env, now: Date): Promise<number> {
  const cutoff = new Date(now.getTime() - STUCK_AFTER_MS).toISOString();
  const { results } = await env.DB.prepare(
    `SELECT b.id, b.org FROM batches b
     WHERE b.status IN ('releasing', 'delivering') AND b.updated_at < ?1
       AND (b.status = 'releasing' OR EXISTS (SELECT 1 FROM delivery_chunks c WHERE c.batch_id = b.id AND c.done = 0))
     LIMIT ?2`,
  )
    .bind(cutoff, MAX_RELEASES_PER_RUN)
    .all<{ id: string; org: string }>();
  if (results.length === 0) return 0;
  // Touched first, so the next run waits STUCK_AFTER_MS again instead of sending them all once more.
  await env.DB.prepare("UPDATE batches SET updated_at = ? WHERE id IN (SELECT value FROM json_each(?)) AND status IN ('releasing', 'delivering')")
    .bind(now.toISOString(), JSON.stringify(results.map((r) => r.id)))
    .run();
  await sendMessages(
    env.DELIVERY_QUEUE,
    results.map((r) => ({ type: "release" as const, org: r.org, batchId: r.id })),
  );
  console.log(JSON.stringify({ job: "delivery.stalled-release-sweep", resent: results.length }));
  return results.length;
}
