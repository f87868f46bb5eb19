/**
 * Cron triggers (wrangler.toml [triggers]). Each job is a domain function that does bounded work
 * and is safe to run again; a failing job is logged and does not stop the others.
 */
import { expireSubmissions, finishExitHolds } from "./approvals/sweep";
import { releaseOrphanHolds } from "./batches/orphan-holds";
import { releaseDueBatches } from "./approvals/release";
import { expireDueCards } from "./cards/expiry";
import { sweepStalledReleases, sweepStuckDeliveries } from "./delivery/sweep";
import type { Env } from "./env";
import { finishAbandonedEvaluations } from "./events/events.service";
import { sweepSegmentEntries } from "./customers/segment-entries";
import { backfillSegments } from "./customers/segments";
import { scheduleReconciliations } from "./reconciliation/schedule";
import { runScheduledTriggers } from "./schedules/tick";
import { redactTokens } from "./core/redact";
import { emitLowBalances } from "./webhooks/low-balance";
import { sweepWebhooks } from "./webhooks/sweep";

export type CronJob = (env: Env, now: Date) => Promise<unknown>;

/** Jobs by cron expression; "*\/5 * * * *" runs sweeps, scheduled releases and card expiry, "0 * * * *" reconciliation. */
export const CRON_JOBS: Record<string, Record<string, CronJob>> = {
  "*/5 * * * *": {
    "approvals.expire-holds": expireSubmissions,
    "approvals.finish-exit-holds": finishExitHolds,
    "batches.scheduled-releases": releaseDueBatches,
    "batches.orphan-hold-sweep": releaseOrphanHolds,
    "delivery.stuck-sweep": sweepStuckDeliveries,
    "delivery.stalled-release-sweep": sweepStalledReleases,
    "cards.expire": expireDueCards,
    "webhooks.outbox-sweep": sweepWebhooks,
    "webhooks.pool-low-balance": emitLowBalances,
    "events.abandoned-evaluations": finishAbandonedEvaluations,
    "campaigns.scheduled-triggers": runScheduledTriggers,
    "customers.segment-backfill": backfillSegments,
    "customers.segment-entries": sweepSegmentEntries,
  },
  "0 * * * *": { reconciliation: scheduleReconciliations },
};

export async function runCron(env: Env, cron: string, now: Date): Promise<Record<string, "ok" | "failed">> {
  const outcome: Record<string, "ok" | "failed"> = {};
  for (const [name, job] of Object.entries(CRON_JOBS[cron] ?? {})) {
    try {
      await job(env, now);
      outcome[name] = "ok";
    } catch (err) {
      console.error(JSON.stringify({ cron, job: name, error: redactTokens(String(err)), stack: redactTokens(String((err as Error)?.stack ?? "")) }));
      outcome[name] = "failed";
    }
  }
  return outcome;
}
