/**
 * GET /v1/reports/summary: spend, delivery performance, exceptions and approval latency of one
 * org, each a handful of aggregate queries (one D1 round trip for all of them).
 *
 * Definitions (README "Reports"):
 * - spend: deliveries `delivered` now (a reversed reward gave its value back; a reissued row is
 *   replaced by its new row), by when they were delivered; `reversed`: what was given back, by
 *   when the reversal happened (the row's last update).
 * - delivery: deliveries created in the window, leaving out rows replaced by a reissue; reached =
 *   delivered or reversed, success rate = reached / (reached + failed); time to deliver =
 *   delivered_at − created_at.
 * - exceptions: share of those deliveries with any exception; exceptions opened in the window by
 *   kind; open exceptions now by kind.
 * - approvals: time from a step's start (submission, or the previous step's last approval) to each
 *   decision, by step and role, for flows submitted in the window; submitted → approved per batch
 *   from the batch transitions; batches waiting for approval now.
 * - redemptions: stored-value cards issued by deliveries created in the window (delivered or reversed
 *   now), by campaign and by channel; a card counts as redeemed once any redemption of it captured
 *   value (a hold that was voided or expired does not count); time to first redemption = the first
 *   such redemption's created_at − the delivery's delivered_at (redemptions mirror, index
 *   redemptions_card).
 */
import { inWindow, ms, percentiles, periodKey, type Period, type Window } from "./sql";

export interface SummaryQuery extends Window {
  period: Period;
}

// A campaign reward has no batch: it is reported under its campaign's id.
const SPEND_KEYS = { campaign: "COALESCE(b.campaign, d.campaign_id)", cost_center: "b.cost_center", pool: "d.pool_id" } as const;
type Row = Record<string, string | number | null>;

export async function summaryReport(d1: D1Database, org: string, q: SummaryQuery) {
  const bind = (sql: string) => d1.prepare(sql).bind(org, q.from ?? null, q.to ?? null);
  const now = (sql: string) => d1.prepare(sql).bind(org);
  const spend = (key: string) =>
    bind(`SELECT ${key} AS key, d.currency, SUM(d.amount) AS amount, COUNT(*) AS deliveries FROM deliveries d LEFT JOIN batches b ON b.id = d.batch_id
          WHERE d.org = ?1 AND d.status = 'delivered' AND ${inWindow("d.delivered_at")} GROUP BY 1, 2 ORDER BY 1, 2`);
  const considered = `d.org = ?1 AND d.status <> 'reissued' AND ${inWindow("d.created_at")}`;
  const cards = (key: string) =>
    `SELECT ${key} AS grp, d.delivered_at,
            (SELECT MIN(rd.created_at) FROM redemptions rd WHERE rd.card_id = d.card_id AND rd.org = ?1 AND rd.captured > 0) AS first_at
     FROM deliveries d LEFT JOIN batches b ON b.id = d.batch_id
     WHERE ${considered} AND d.card_id IS NOT NULL AND d.status IN ('delivered', 'reversed')`;
  const redemptionRate = (key: string) => bind(`SELECT grp, COUNT(*) AS cards, COUNT(first_at) AS redeemed FROM (${cards(key)}) GROUP BY grp ORDER BY grp`);
  const firstRedemption = (key: string) =>
    bind(
      percentiles(`SELECT grp, ${ms("first_at")} - ${ms("delivered_at")} AS v FROM (${cards(key)}) WHERE first_at IS NOT NULL AND delivered_at IS NOT NULL`),
    );
  const results = await d1.batch<Row>([
    spend("'total'"),
    spend(SPEND_KEYS.campaign),
    spend(SPEND_KEYS.cost_center),
    spend(SPEND_KEYS.pool),
    spend(periodKey("d.delivered_at", q.period)),
    bind(`SELECT d.currency, SUM(d.amount) AS amount, COUNT(*) AS deliveries FROM deliveries d
          WHERE d.org = ?1 AND d.status = 'reversed' AND d.status <> 'delivered' AND ${inWindow("d.updated_at")} GROUP BY 1 ORDER BY 1`),
    bind(`SELECT channel, COUNT(*) AS deliveries, SUM(status IN ('delivered', 'reversed')) AS reached, SUM(status = 'failed') AS failed,
            SUM(status IN ('queued', 'sending', 'held')) AS pending FROM deliveries d WHERE ${considered} GROUP BY channel ORDER BY channel`),
    bind(
      percentiles(`SELECT channel AS grp, ${ms("delivered_at")} - ${ms("created_at")} AS v FROM deliveries d WHERE ${considered} AND delivered_at IS NOT NULL`),
    ),
    bind(`SELECT COUNT(*) AS deliveries, COALESCE(SUM(EXISTS (SELECT 1 FROM exceptions e WHERE e.org = ?1 AND e.entity_id = d.id)), 0) AS with_exception
          FROM deliveries d WHERE ${considered}`),
    bind(`SELECT kind, COUNT(*) AS n FROM exceptions WHERE org = ?1 AND ${inWindow("created_at")} GROUP BY kind ORDER BY kind`),
    now("SELECT kind, COUNT(*) AS n FROM exceptions WHERE org = ?1 AND status = 'open' GROUP BY kind ORDER BY kind"),
    bind(
      percentiles(
        `SELECT d.step || ':' || COALESCE(json_extract(f.steps, '$[' || d.step || '].role'), '') AS grp,
              ${ms("d.created_at")} - ${ms(`COALESCE((SELECT MAX(p.created_at) FROM approval_decisions p WHERE p.batch_id = d.batch_id AND p.step = d.step - 1 AND p.decision = 'approve'), f.submitted_at)`)} AS v
       FROM approval_flows f JOIN approval_decisions d ON d.batch_id = f.batch_id WHERE f.org = ?1 AND ${inWindow("f.submitted_at")}`,
      ),
    ),
    bind(
      percentiles(
        `SELECT 'all' AS grp, ${ms("a.created_at")} - ${ms("s.created_at")} AS v
       FROM batch_transitions a JOIN batch_transitions s ON s.batch_id = a.batch_id AND s.to_status = 'submitted'
         AND s.seq = (SELECT MAX(x.seq) FROM batch_transitions x WHERE x.batch_id = a.batch_id AND x.to_status = 'submitted' AND x.seq < a.seq)
       WHERE a.org = ?1 AND a.to_status = 'approved' AND ${inWindow("s.created_at")}`,
      ),
    ),
    now(`SELECT f.current_step AS step, COUNT(*) AS batches, MIN(COALESCE(f.submitted_at, b.updated_at)) AS oldest
         FROM batches b LEFT JOIN approval_flows f ON f.batch_id = b.id WHERE b.org = ?1 AND b.status = 'submitted' GROUP BY 1 ORDER BY 1`),
    redemptionRate(SPEND_KEYS.campaign),
    firstRedemption(SPEND_KEYS.campaign),
    redemptionRate("d.channel"),
    firstRedemption("d.channel"),
  ]);
  const [
    total,
    byCampaign,
    byCostCenter,
    byPool,
    byPeriod,
    reversed,
    channels,
    deliverTimes,
    excRate,
    opened,
    open,
    steps,
    submitted,
    waiting,
    rateByCampaign,
    firstByCampaign,
    rateByChannel,
    firstByChannel,
  ] = results.map((r) => r.results);
  return {
    window: { from: q.from ?? null, to: q.to ?? null, period: q.period },
    spend: {
      total: total!.map(({ key: _k, ...r }) => r),
      by_campaign: byCampaign!,
      by_cost_center: byCostCenter!,
      by_pool: byPool!,
      by_period: byPeriod!,
      reversed: reversed!,
    },
    delivery: { by_channel: channelStats(channels!, deliverTimes!) },
    exceptions: exceptionStats(excRate![0] ?? {}, opened!, open!),
    approvals: approvalStats(steps!, submitted![0] ?? null, waiting!),
    redemptions: {
      by_campaign: redemptionStats(rateByCampaign!, firstByCampaign!).map(({ key, ...r }) => ({ campaign: key, ...r })),
      by_channel: redemptionStats(rateByChannel!, firstByChannel!).map(({ key, ...r }) => ({ channel: key, ...r })),
    },
  };
}

function redemptionStats(rates: Row[], firsts: Row[]) {
  const byKey = new Map(firsts.map((f) => [f.grp, f]));
  return rates.map((r) => {
    const cards = Number(r.cards),
      redeemed = Number(r.redeemed);
    const first = byKey.get(r.grp);
    return {
      key: (r.grp as string | null) ?? null,
      cards,
      redeemed_cards: redeemed,
      redemption_rate: cards > 0 ? redeemed / cards : null,
      time_to_first_redemption_ms: { samples: Number(first?.n ?? 0), ...pct(first) },
    };
  });
}

const pct = (r: Row | undefined) => ({ p50: (r?.p50 as number | null) ?? null, p95: (r?.p95 as number | null) ?? null });

function channelStats(channels: Row[], times: Row[]) {
  const byChannel = new Map(times.map((t) => [t.grp, t]));
  return channels.map((c) => {
    const reached = Number(c.reached),
      failed = Number(c.failed);
    return {
      channel: c.channel as string,
      deliveries: Number(c.deliveries),
      reached,
      failed,
      pending: Number(c.pending),
      success_rate: reached + failed > 0 ? reached / (reached + failed) : null,
      time_to_deliver_ms: { samples: Number(byChannel.get(c.channel)?.n ?? 0), ...pct(byChannel.get(c.channel)) },
    };
  });
}

function exceptionStats(rate: Row, opened: Row[], open: Row[]) {
  const deliveries = Number(rate.deliveries ?? 0),
    withException = Number(rate.with_exception ?? 0);
  return {
    deliveries,
    deliveries_with_exception: withException,
    rate: deliveries > 0 ? withException / deliveries : null,
    opened_by_kind: opened.map((r) => ({ kind: r.kind as string, count: Number(r.n) })),
    open_by_kind: open.map((r) => ({ kind: r.kind as string, count: Number(r.n) })),
  };
}

function approvalStats(steps: Row[], submitted: Row | null, waiting: Row[]) {
  return {
    by_step: steps.map((s) => {
      const [step, role] = String(s.grp).split(":");
      return { step: Number(step), role: role || null, decisions: Number(s.n), latency_ms: pct(s) };
    }),
    submitted_to_approved: { batches: Number(submitted?.n ?? 0), latency_ms: pct(submitted ?? undefined) },
    waiting: {
      batches: waiting.reduce((s, w) => s + Number(w.batches), 0),
      oldest_submitted_at: waiting.map((w) => w.oldest as string).sort()[0] ?? null,
      by_step: waiting.map((w) => ({ step: w.step === null ? null : Number(w.step), batches: Number(w.batches) })),
    },
  };
}
export type SummaryReport = Awaited<ReturnType<typeof summaryReport>>;
