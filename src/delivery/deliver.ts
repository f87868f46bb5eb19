/**
 * The delivery step for one consumer batch of deliver messages of one batch: claim → reward →
 * commit (one pool DO call) → send (one provider call per 100 emails) → record → decide each
 * message. Every step is idempotent, so a crash anywhere and the redelivery that follows never
 * pays twice, never assigns a code twice and never loses a delivery.
 */
import { appendAudit, type AuditInput } from "../audit/audit";
import { settlementEvent, type SettledEntry } from "../audit/settlement";
import type { Env } from "../env";
import { commitDeliveries, refundDelivery } from "../pools/delivery-value";

import { openExceptions, type ExceptionInput } from "../exceptions/exceptions.open";
import { claim as claimStatement, settle } from "./delivery-state";
import { attachRecipients, loadCampaignContext, loadContext, type Claimed, type ClaimedRow, type DeliveryContext } from "./deliver.load";
import { obtainRewards } from "./deliver.rewards";
import { failpoint } from "./failpoints";
import { backoffSeconds, LEASE_MS } from "./retry-policy";
import { attemptFacts, recordAttempts, sendRewards } from "./send";

/** What to do with each message: ack, or retry after a delay. */
export type Decision = { ack: true } | { ack: false; delaySeconds: number };

interface Final {
  id: string;
  item?: string;
  attempts?: number;
  status: "delivered" | "failed" | "held" | "queued";
  reason: string | null;
  masked?: string | null;
  committed?: boolean;
  refund?: boolean;
  code_id?: string | null;
  card_id?: string | null;
}

/** Runs what it is given one call at a time, in call order (a failure does not stop the next). */
export type InTurn = <T>(fn: () => Promise<T>) => Promise<T>;

/**
 * A turn for the record steps of one consumer invocation's groups: each appends to the org's audit
 * chain, and run side by side they race for its next `seq`, the loser redoing its whole D1 batch
 * (the outcome, attempt and audit writes of a few hundred deliveries). One at a time, none is lost.
 * Per invocation, so nothing is shared across requests.
 */
export function turns(): InTurn {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>) => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
}

/** The reward a claimed delivery holds now, recorded with its outcome. */
const reward = (c: Claimed) => ({ code_id: c.code_id, card_id: c.card_id });

export async function deliver(
  env: Env,
  org: string,
  source: { batchId?: string; campaignId?: string },
  deliveryIds: string[],
  attempt: number,
  inTurn: InTurn = (fn) => fn(),
): Promise<Map<string, Decision>> {
  const decisions = new Map<string, Decision>();
  const ctx = source.batchId ? await loadContext(env, org, source.batchId) : await loadCampaignContext(env, org, source.campaignId!);
  const batchId = source.batchId ?? null;
  const claimed = ctx ? await attachRecipients(env, ctx, await claim(env, org, deliveryIds)) : [];
  const claimedIds = new Set(claimed.map((c) => c.id));
  for (const id of deliveryIds) if (!claimedIds.has(id)) decisions.set(id, await unclaimedDecision(env, id));
  if (!ctx || claimed.length === 0) return decisions;
  failpoint(env, "after_claim");

  const finals: Final[] = [];
  const exceptions: ExceptionInput[] = [];
  const hold = (c: Claimed, reason: string, detail: string, refund = false) => {
    finals.push({ id: c.id, item: c.item, attempts: c.attempts, status: "held", reason, refund, committed: !!c.committed, ...reward(c) });
    exceptions.push({ org, kind: "delivery_held", severity: "medium", entityType: "delivery", entityId: c.id, batchId, detail, data: { reason } });
  };

  const rewarded = await obtainRewards(env, ctx, claimed, (c, detail) => hold(c, "inventory_exhausted", detail));
  failpoint(env, "after_reward");
  const committed = await commitValue(env, ctx, rewarded, (c, code, detail) => hold(c, code, detail));
  failpoint(env, "after_commit");
  const outcomes = await sendRewards(
    env,
    committed.map((c) => toJob(ctx, c)),
    "send",
    "system:delivery",
  );
  failpoint(env, "after_send");
  for (const c of committed) {
    const o = outcomes.get(c.id)!;
    const r = o.result;
    if (r.ok) finals.push({ id: c.id, status: "delivered", reason: null, masked: o.masked, committed: true, ...reward(c) });
    else if (r.errorClass === "policy") hold(c, "policy", r.detail, true);
    else if (r.errorClass === "transient") {
      finals.push({ id: c.id, status: "queued", reason: `transient: ${r.detail}`, masked: o.masked, committed: true, ...reward(c) });
      decisions.set(c.id, { ack: false, delaySeconds: r.retryAfterSeconds ?? backoffSeconds(attempt) });
    } else {
      finals.push({
        id: c.id,
        item: c.item,
        attempts: c.attempts,
        status: "failed",
        reason: `data: ${r.detail}`,
        masked: o.masked,
        committed: true,
        refund: true,
        ...reward(c),
      });
      exceptions.push({
        org,
        kind: "delivery_failed",
        severity: "medium",
        entityType: "delivery",
        entityId: c.id,
        batchId,
        detail: r.detail,
        data: { error_class: "data" },
      });
    }
  }
  await refundFailed(env, ctx, finals);
  await inTurn(() => record(env, org, batchId, ctx.campaignId, finals, outcomes, exceptions));
  failpoint(env, "before_ack");
  for (const c of claimed) if (!decisions.has(c.id)) decisions.set(c.id, { ack: true });
  return decisions;
}

async function claim(env: Env, org: string, ids: string[]): Promise<ClaimedRow[]> {
  const now = new Date();
  const { results } = await claimStatement(env.DB, org, ids, now, new Date(now.getTime() + LEASE_MS)).all<ClaimedRow>();
  return results;
}

/** A message whose delivery could not be claimed: done already (ack) or claimed by a live attempt (wait). */
async function unclaimedDecision(env: Env, id: string): Promise<Decision> {
  const row = await env.DB.prepare("SELECT status, claimed_until FROM deliveries WHERE id = ?")
    .bind(id)
    .first<{ status: string; claimed_until: string | null }>();
  // Claimed by a live attempt: `sending`, or `queued` with a lease (delivery-state.ts `claim`).
  if ((row?.status === "sending" || row?.status === "queued") && row.claimed_until && Date.parse(row.claimed_until) > Date.now()) {
    return { ack: false, delaySeconds: Math.max(1, Math.ceil((Date.parse(row.claimed_until) - Date.now()) / 1000)) };
  }
  return { ack: true };
}

/** Commits the value of every rewarded delivery in one pool DO call; item id = the delivery's item. */
async function commitValue(env: Env, ctx: DeliveryContext, list: Claimed[], onRefused: (c: Claimed, code: string, detail: string) => void): Promise<Claimed[]> {
  const uncommitted = list.filter((c) => !c.committed);
  if (uncommitted.length === 0) return list;
  const items = uncommitted.map((c) => ({ id: c.item, amount: c.amount, recipientKey: c.recipientKey ?? "" }));
  const res = await commitDeliveries(env, ctx.poolId, ctx.holdId, items, "system:delivery");
  if (!res.ok) {
    for (const c of uncommitted) onRefused(c, res.code, res.detail);
    return list.filter((c) => c.committed);
  }
  const refused = new Map(res.items.flatMap((i) => (i.status === "rejected" ? [[i.id, i] as const] : [])));
  return list.filter((c) => {
    const r = refused.get(c.item);
    if (r && r.status === "rejected") onRefused(c, r.code, r.detail);
    else c.committed = 1;
    return !r;
  });
}

async function refundFailed(env: Env, ctx: DeliveryContext, finals: Final[]) {
  for (const f of finals.filter((x) => x.refund && x.committed && x.item)) {
    // The op id is fixed per delivery and attempt: a redelivered batch replays the refund instead of doing it again.
    try {
      await refundDelivery(env, ctx.poolId, f.item!, { kind: "failed_attempt", deliveryId: f.id, attempts: f.attempts! }, "system:delivery");
      f.committed = false;
    } catch {
      // Still committed in the pool: the delivery keeps committed = 1 and reconciliation sees it.
    }
  }
}

function toJob(ctx: DeliveryContext, c: Claimed) {
  return {
    deliveryId: c.id,
    org: ctx.org,
    channel: c.channel,
    amount: c.amount,
    currency: ctx.currency,
    codeId: c.code_id,
    cardId: c.card_id,
    recipient: c.recipient,
    productName: ctx.productName,
    batchName: ctx.batchName,
    campaign: ctx.campaign,
    template: ctx.template,
    code: c.fresh,
    // Attempt rows exist only after a claim (or for rows that support actions created with attempts
    // carried over): the first claim of a delivery has none to look up.
    firstAttempt: c.attempts === 1,
  };
}

async function record(
  env: Env,
  org: string,
  batchId: string | null,
  campaignId: string | null,
  finals: Final[],
  outcomes: Awaited<ReturnType<typeof sendRewards>>,
  exceptions: ExceptionInput[],
) {
  const now = new Date().toISOString();
  const update = settle(env.DB, finals, now);
  // One audit event for the run: every delivery it settled (a transient failure too: its attempt is
  // recorded) with a digest of the attempts; subscribers still get one webhook event per outcome.
  const entries: SettledEntry[] = finals.map((f) => [f.id, f.status, outcomes.get(f.id)?.attemptNo ?? null]);
  const event = settlementEvent({ batchId, campaignId }, entries, (id) => {
    const o = outcomes.get(id);
    return o ? attemptFacts(o) : undefined;
  });
  const webhooks = (): AuditInput[] =>
    finals
      .filter((f) => f.status !== "queued")
      .map((f) => ({
        actor: "system:delivery",
        action: `delivery.${f.status}`,
        entityType: "delivery",
        entityId: f.id,
        after: { status: f.status, reason: f.reason, ...(batchId ? { batch_id: batchId } : { campaign_id: campaignId }) },
      }));
  // A code whose send failed for good was never seen by anyone: it goes back to the inventory.
  const failed = finals.filter((f) => f.status === "failed").map((f) => f.id);
  const freeCodes = failed.length
    ? env.DB.prepare(
        "UPDATE inventory_codes SET status = 'available', delivery_id = NULL, assigned_at = NULL WHERE delivery_id IN (SELECT value FROM json_each(?))",
      ).bind(JSON.stringify(failed))
    : null;
  const unlink = failed.length
    ? env.DB.prepare("UPDATE deliveries SET code_id = NULL WHERE id IN (SELECT value FROM json_each(?)) AND code_id IS NOT NULL").bind(JSON.stringify(failed))
    : null;
  const extra = [update, unlink, freeCodes, recordAttempts(env.DB, outcomes), openExceptions(env.DB, exceptions)].filter(
    (s): s is D1PreparedStatement => s !== null,
  );
  await appendAudit(env.DB, org, event ? [event] : [], extra, webhooks);
}
