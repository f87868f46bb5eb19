/**
 * Cap periods per customer and per campaign (day, ISO week from Monday, month, or lifetime; UTC, by
 * the event's occurred_at). The counters themselves live in the pool Durable Object, one row per
 * campaign, scope and period window, where caps and budget are claimed together
 * (durable-objects/pool-campaign.ts): a cap reads one row, however many rewards came before.
 */
import type { CapSpec } from "../campaigns/campaigns.service";

export interface Window {
  from: string;
  to: string;
}

export function periodWindow(period: CapSpec["period"], at: string): Window {
  const d = new Date(at);
  const y = d.getUTCFullYear(),
    m = d.getUTCMonth(),
    day = d.getUTCDate();
  let from: Date, to: Date;
  if (period === "lifetime") return { from: "", to: "9999" };
  if (period === "day") {
    from = new Date(Date.UTC(y, m, day));
    to = new Date(Date.UTC(y, m, day + 1));
  } else if (period === "week") {
    const back = (d.getUTCDay() + 6) % 7; // days since Monday
    from = new Date(Date.UTC(y, m, day - back));
    to = new Date(Date.UTC(y, m, day - back + 7));
  } else {
    from = new Date(Date.UTC(y, m, 1));
    to = new Date(Date.UTC(y, m + 1, 1));
  }
  return { from: from.toISOString(), to: to.toISOString() };
}
