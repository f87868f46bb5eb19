/** What approvers see, in the email and on the page: one summary built from the batch and its flow. */
import { batchPreview } from "../batches/preview";
import type { BatchRow } from "../batches/batch-state";
import type { Env } from "../env";
import { confirmedEmail } from "../approvers/eligibility";
import type { FlowStep } from "./policy";
import { formatMoneyCode } from "../core/money";

export interface BatchSummary {
  id: string;
  name: string;
  campaign: string;
  businessOwner: string;
  costCenter: string;
  expectedDeliveryDate: string;
  recipients: number;
  invalid: number;
  excluded: number;
  total: string;
  releaseAt: string | null;
  anomalies: { code: string; detail: string }[];
  creator: string;
  step: { number: number; of: number; role: string; quorum: number };
}

/** The creator as approvers know them: "sub (email)" when the creator is an enrolled approver with a confirmed address. */
export async function creatorLabel(d1: D1Database, batch: BatchRow): Promise<{ label: string; email: string | null }> {
  const email = await confirmedEmail(d1, batch.org, batch.createdBy);
  return { label: email ? `${batch.createdBy} (${email})` : batch.createdBy, email };
}

export async function batchSummary(env: Env, batch: BatchRow, steps: FlowStep[], step: FlowStep): Promise<BatchSummary> {
  const [preview, creator] = await Promise.all([batchPreview(env, batch.org, batch.id), creatorLabel(env.DB, batch)]);
  return {
    id: batch.id,
    name: batch.name,
    campaign: batch.campaign,
    businessOwner: batch.businessOwner,
    costCenter: batch.costCenter,
    expectedDeliveryDate: batch.expectedDeliveryDate,
    recipients: batch.validCount,
    invalid: batch.invalidCount,
    excluded: batch.excludedCount,
    total: formatMoneyCode(batch.validTotal, batch.currency),
    releaseAt: batch.releaseAt,
    anomalies: [...preview.anomalies.map((a) => ({ code: a.code, detail: a.detail })), ...inventoryShort(preview.inventory, batch.currency)],
    creator: creator.label,
    step: { number: step.index + 1, of: steps.length, role: step.role, quorum: step.quorum },
  };
}

/** Codes short for the valid rows, as approvers read it (the preview's inventory coverage, read now). */
function inventoryShort(inv: Awaited<ReturnType<typeof batchPreview>>["inventory"], currency: string): { code: string; detail: string }[] {
  if (!inv || inv.covers_valid_rows) return [];
  const short = inv.by_amount.filter((a) => a.short > 0).map((a) => `${a.short} × ${formatMoneyCode(a.amount, currency)}`);
  return [
    {
      code: "inventory_short",
      detail: `Inventory codes available now cover ${inv.available} of ${inv.needed} recipients (short: ${short.join(", ")}); a delivery without a code waits until codes are uploaded`,
    },
  ];
}

/** What an approver is shown about a batch, label by label: the email and the link page both list these. */
export function summaryFacts(s: BatchSummary): [string, string | number][] {
  return [
    ["Batch", s.name],
    ["Campaign", s.campaign],
    ["Business owner", s.businessOwner],
    ["Cost center", s.costCenter],
    ["Recipients", s.recipients],
    ["Total", s.total],
    ["Created by", s.creator],
  ];
}

/** What approvers see about a campaign's day (its email and its link page). */
export interface CampaignDaySummary {
  campaignId: string;
  name: string;
  day: string;
  owner: string;
  currency: string;
  count: number;
  total: string;
  creator: string;
  /** The day's content when the summary was made: the page posts it back, and a decision refuses a list that changed since. */
  fingerprint: string;
  /** The first pending rewards, oldest first (`count` says how many there are). */
  rewards: { eventId: string; side: string | null; customer: string; amount: string }[];
  step: { number: number; of: number; role: string; quorum: number; approvals: number };
}

/** How many pending rewards the page lists; "and N more" says the rest. */
export const CAMPAIGN_PAGE_REWARDS = 100;

export function campaignDayFacts(s: CampaignDaySummary): [string, string | number][] {
  return [
    ["Campaign", `${s.name} (${s.campaignId})`],
    ["Day (UTC)", s.day],
    ["Owner", s.owner],
    ["Currency", s.currency],
    ["Pending rewards", s.count],
    ["Total", s.total],
    ["Created by", s.creator],
    ["Your step", `${s.step.number} of ${s.step.of}: ${s.step.role} approval (${s.step.approvals} of ${s.step.quorum} so far)`],
  ];
}
