/**
 * Claiming a campaign's rewards, many at once, inside the FundingPool's transaction: for each
 * reward in order, its caps (per customer and per campaign, per period window: one counter row
 * each) and then the campaign's holds (the first with room) decide. Caps and budget are checked and
 * taken in the same single-threaded transaction, so concurrent events can pass neither together,
 * and the counters are read once per call, however many rewards the campaign has paid before.
 * A reward seen before (same item id) answers `already_committed` and counts nothing again.
 */
import type { z } from "zod";
import { newCommitPlan, planItem } from "./pool-commit";
import type { ItemRow, PoolStore } from "./pool-store";
import type { CampaignClaimArgs, CampaignItemOutcome, Hold, Limits } from "./pool-types";

type Args = z.infer<typeof CampaignClaimArgs>;
type Item = Args["items"][number];

export interface CampaignClaimPlan {
  outcomes: CampaignItemOutcome[];
  /** New items to insert, by hold. */
  added: Map<string, { id: string; amount: number; recipientKey: string }[]>;
  /** Value moved per hold, with its item ids (one journal entry per hold). */
  moved: Map<string, string[]>;
  counters: { scope: string; period: string; count: number; amount: number }[];
  /** Committed rewards that added to a counter (the only ones a refund must take off again). */
  counted: Item[];
  holds: Hold[];
}

const CAMPAIGN_SCOPE = "*";

export function planCampaignClaim(store: PoolStore, limits: Limits, a: Args, day: string): CampaignClaimPlan {
  const holds = a.holdIds.map((id) => store.getHold(id)).filter((h): h is Hold => h !== undefined);
  const holdIds = new Set(holds.map((h) => h.hold_id));
  const known: Map<string, ItemRow> = store.getItems(a.items.map((i) => i.id));
  const keys = new Map<string, { scope: string; period: string }>();
  for (const i of a.items) {
    if (i.customerPeriod) keys.set(`${i.customerKey}\n${i.customerPeriod}`, { scope: i.customerKey, period: i.customerPeriod });
    if (i.campaignPeriod) keys.set(`${CAMPAIGN_SCOPE}\n${i.campaignPeriod}`, { scope: CAMPAIGN_SCOPE, period: i.campaignPeriod });
  }
  const counters = store.campaignCounters(a.campaignId, [...keys.values()]);
  const deltas = new Map<string, { scope: string; period: string; count: number; amount: number }>();
  const bump = (scope: string, period: string, amount: number) => {
    const key = `${scope}\n${period}`;
    const c = counters.get(key) ?? { count: 0, amount: 0 };
    counters.set(key, { count: c.count + 1, amount: c.amount + amount });
    const d = deltas.get(key) ?? { scope, period, count: 0, amount: 0 };
    d.count += 1;
    d.amount += amount;
    deltas.set(key, d);
  };
  const exceeds = (cap: { count?: number; amount?: number } | undefined, scope: string, period: string | null, amount: number) => {
    if (!cap || !period) return false;
    const c = counters.get(`${scope}\n${period}`) ?? { count: 0, amount: 0 };
    return (cap.count !== undefined && c.count + 1 > cap.count) || (cap.amount !== undefined && c.amount + amount > cap.amount);
  };

  let committed = holds.reduce((s, h) => s + h.committed, 0);
  // One plan shared by every hold (its pool-limit totals span them all); `hold` is swapped per attempt.
  const plan = newCommitPlan(holds[0] ?? emptyHold(), day, known, a.items.map(toCommitItem));
  const out: CampaignClaimPlan = { outcomes: [], added: new Map(), moved: new Map(), counters: [], counted: [], holds };
  for (const item of a.items) {
    const prior = known.get(item.id);
    if (prior && prior.state !== "refunded") {
      out.outcomes.push(
        holdIds.has(prior.hold_id) && prior.amount === item.amount
          ? { id: item.id, status: "already_committed", holdId: prior.hold_id, amount: prior.amount }
          : { id: item.id, status: "rejected", code: "operation_id_reused", detail: "Item was committed with other arguments" },
      );
      continue;
    }
    if (a.stopAt !== undefined && committed >= a.stopAt) {
      out.outcomes.push({
        id: item.id,
        status: "rejected",
        code: "threshold_reached",
        detail: `The campaign has committed ${committed} (pauses at ${a.stopAt})`,
      });
      continue;
    }
    if (exceeds(a.caps.perCustomer, item.customerKey, item.customerPeriod, item.amount)) {
      out.outcomes.push({ id: item.id, status: "rejected", code: "customer_cap", detail: `Customer cap of ${item.customerPeriod} reached` });
      continue;
    }
    if (exceeds(a.caps.perCampaign, CAMPAIGN_SCOPE, item.campaignPeriod, item.amount)) {
      out.outcomes.push({ id: item.id, status: "rejected", code: "campaign_cap", detail: `Campaign cap of ${item.campaignPeriod} reached` });
      continue;
    }
    let result: CampaignItemOutcome = { id: item.id, status: "rejected", code: "insufficient_funds", detail: "The campaign's budget is spent" };
    for (const hold of holds) {
      plan.hold = hold;
      const added = plan.added.length;
      const r = planItem(store, limits, plan, toCommitItem(item));
      if (r.status === "committed") {
        if (plan.added.length > added) push(out.added, hold.hold_id, plan.added[added]!);
        push(out.moved, hold.hold_id, item.id);
        result = { id: item.id, status: "committed", holdId: hold.hold_id, amount: item.amount };
        break;
      }
      if (r.status === "rejected" && (r.code === "insufficient_funds" || r.code === "hold_not_active")) {
        if (r.code === "insufficient_funds") result = { id: item.id, status: "rejected", code: r.code, detail: r.detail };
        continue;
      }
      if (r.status === "rejected") result = { id: item.id, status: "rejected", code: r.code, detail: r.detail };
      break;
    }
    out.outcomes.push(result);
    if (result.status !== "committed") continue;
    committed += item.amount;
    if (item.customerPeriod) bump(item.customerKey, item.customerPeriod, item.amount);
    if (item.campaignPeriod) bump(CAMPAIGN_SCOPE, item.campaignPeriod, item.amount);
    if (item.customerPeriod || item.campaignPeriod) out.counted.push(item);
  }
  out.counters = [...deltas.values()];
  return out;
}

const toCommitItem = (i: Item) => ({ id: i.id, amount: i.amount, recipientKey: i.customerKey });

function push<T>(m: Map<string, T[]>, k: string, v: T): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

function emptyHold(): Hold {
  return { hold_id: "", amount: 0, remaining: 0, committed: 0, released: 0, state: "released", expires_at: 0 };
}
