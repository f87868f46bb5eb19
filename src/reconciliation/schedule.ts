/**
 * Where runs get their invocations: the API request that asks for one (a small org completes
 * inside it), queue messages that carry a run on in further invocations, and the hourly cron,
 * which enqueues one message per org so no single invocation does every org's work.
 */
import { sendMessages, type ReconcileMessage } from "../queues/messages";
import type { Env } from "../env";
import { driveRun, startRun, type Budget } from "./engine";
import { LEASE_MS } from "./runs.store";

/** What one API request does before answering; the queue carries on with bigger orgs. */
export const INLINE_BUDGET: Budget = { ms: 5_000, steps: 25 };
/** One queue invocation's share: well inside a consumer's CPU time and subrequest limits. */
export const QUEUE_BUDGET: Budget = { ms: 15_000, steps: 40 };
export const CRON_ACTOR = "system:cron";
const ORG_PAGE = 500;

export function enqueueRun(env: Env, org: string, runId: string): Promise<void> {
  return sendMessages(env.RECONCILE_QUEUE, [{ type: "reconcile", org, runId }]);
}

/**
 * A queue message: starts the org's cron run (no run id) or continues a run. Returns a delay when
 * another invocation holds the run, so the message comes back once that lease has lapsed.
 */
export async function reconcileFromQueue(env: Env, msg: ReconcileMessage): Promise<{ retryAfterSeconds?: number }> {
  const runId = msg.runId ?? (await startRun(env, msg.org, "cron", CRON_ACTOR)).run.id;
  const { stopped } = await driveRun(env, runId, QUEUE_BUDGET);
  if (stopped === "budget") await enqueueRun(env, msg.org, runId);
  return stopped === "busy" ? { retryAfterSeconds: Math.ceil(LEASE_MS / 1000) } : {};
}

/** Cron "0 * * * *": one reconcile message per org that has a pool or a product. */
export async function scheduleReconciliations(env: Env): Promise<number> {
  let after = "";
  let orgs = 0;
  for (;;) {
    const { results } = await env.DB.prepare(
      "SELECT org FROM (SELECT org FROM pools WHERE org > ?1 UNION SELECT org FROM products WHERE org > ?1) ORDER BY org LIMIT ?2",
    )
      .bind(after, ORG_PAGE)
      .all<{ org: string }>();
    if (results.length === 0) return orgs;
    await sendMessages(
      env.RECONCILE_QUEUE,
      results.map((r) => ({ type: "reconcile" as const, org: r.org })),
    );
    orgs += results.length;
    after = results.at(-1)!.org;
  }
}
