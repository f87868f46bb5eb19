/**
 * The summary report as CSV: one figure per line (section, dimension, key, currency, metric,
 * value), so every section fits one sheet and pivots easily. Cells are formula-safe.
 */
import { csvCell } from "../batches/recipients.list";
import type { SummaryReport } from "./summary";

type Line = [section: string, dimension: string, key: string | number | null, currency: string | null, metric: string, value: number | string | null];

export const SUMMARY_CSV_HEADER = "section,dimension,key,currency,metric,value";

export function summaryCsv(r: SummaryReport): string {
  const lines: Line[] = [];
  const spend = (dimension: string, rows: Record<string, unknown>[], section = "spend") => {
    for (const row of rows) {
      const key = dimension === "total" ? "all" : (row.key as string);
      lines.push(
        [section, dimension, key, row.currency as string, "amount", row.amount as number],
        [section, dimension, key, row.currency as string, "deliveries", row.deliveries as number],
      );
    }
  };
  spend("total", r.spend.total);
  spend("campaign", r.spend.by_campaign);
  spend("cost_center", r.spend.by_cost_center);
  spend("pool", r.spend.by_pool);
  spend(r.window.period, r.spend.by_period);
  spend("total", r.spend.reversed, "reversed");
  for (const c of r.delivery.by_channel) {
    const figures: [string, number | null][] = [
      ["deliveries", c.deliveries],
      ["reached", c.reached],
      ["failed", c.failed],
      ["pending", c.pending],
      ["success_rate", c.success_rate],
      ["time_to_deliver_ms_p50", c.time_to_deliver_ms.p50],
      ["time_to_deliver_ms_p95", c.time_to_deliver_ms.p95],
    ];
    for (const [metric, value] of figures) lines.push(["delivery", "channel", c.channel, null, metric, value]);
  }
  const e = r.exceptions;
  lines.push(
    ["exceptions", "all", "all", null, "deliveries", e.deliveries],
    ["exceptions", "all", "all", null, "deliveries_with_exception", e.deliveries_with_exception],
    ["exceptions", "all", "all", null, "rate", e.rate],
  );
  for (const k of e.opened_by_kind) lines.push(["exceptions", "opened_by_kind", k.kind, null, "count", k.count]);
  for (const k of e.open_by_kind) lines.push(["exceptions", "open_by_kind", k.kind, null, "count", k.count]);
  for (const s of r.approvals.by_step) {
    const key = `${s.step}:${s.role ?? ""}`;
    lines.push(
      ["approvals", "step", key, null, "decisions", s.decisions],
      ["approvals", "step", key, null, "latency_ms_p50", s.latency_ms.p50],
      ["approvals", "step", key, null, "latency_ms_p95", s.latency_ms.p95],
    );
  }
  const sa = r.approvals.submitted_to_approved;
  lines.push(
    ["approvals", "submitted_to_approved", "all", null, "batches", sa.batches],
    ["approvals", "submitted_to_approved", "all", null, "latency_ms_p50", sa.latency_ms.p50],
    ["approvals", "submitted_to_approved", "all", null, "latency_ms_p95", sa.latency_ms.p95],
  );
  lines.push(
    ["approvals", "waiting", "all", null, "batches", r.approvals.waiting.batches],
    ["approvals", "waiting", "all", null, "oldest_submitted_at", r.approvals.waiting.oldest_submitted_at],
  );
  for (const [dimension, rows] of [
    ["campaign", r.redemptions.by_campaign.map(({ campaign, ...x }) => ({ key: campaign, ...x }))],
    ["channel", r.redemptions.by_channel.map(({ channel, ...x }) => ({ key: channel, ...x }))],
  ] as const) {
    for (const x of rows) {
      lines.push(
        ["redemptions", dimension, x.key, null, "cards", x.cards],
        ["redemptions", dimension, x.key, null, "redeemed_cards", x.redeemed_cards],
        ["redemptions", dimension, x.key, null, "redemption_rate", x.redemption_rate],
        ["redemptions", dimension, x.key, null, "time_to_first_redemption_ms_p50", x.time_to_first_redemption_ms.p50],
        ["redemptions", dimension, x.key, null, "time_to_first_redemption_ms_p95", x.time_to_first_redemption_ms.p95],
      );
    }
  }
  return `${[SUMMARY_CSV_HEADER, ...lines.map((l) => l.map(csvCell).join(","))].join("\r\n")}\r\n`;
}
