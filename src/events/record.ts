/**
 * Recording the claimed rewards: their outcome rows, their deliveries and one audit event per
 * campaign, in one D1 transaction. Split out of evaluate.ts; see there for the whole flow.
 */
import { appendAudit, type AuditInput } from "../audit/audit";
import { createForCampaignRewards } from "../delivery/delivery-state";
import type { Env } from "../env";
import { groupBy, itemOf, type Pair } from "./pairs";

/** The rewards (rewarded or pending), their deliveries and one audit event per campaign: one D1 transaction. */
export async function record(env: Env, org: string, pairs: Pair[]): Promise<void> {
  if (pairs.length === 0) return;
  const now = new Date().toISOString();
  const day = now.slice(0, 10);
  const rows = pairs.map((p) => {
    if (p.claim!.pending) p.approvalDay = day;
    const cu = p.ev.customer;
    return {
      id: p.outcomeId,
      campaign_id: p.c.id,
      event_id: p.ev.id,
      side: p.side ?? null,
      customer_key: cu.key,
      outcome: p.view!.outcome,
      reason: null,
      detail: null,
      amount: p.claim!.amount,
      delivery_id: p.credit ? null : p.deliveryId,
      committed: 1,
      name: cu.input.name ?? null,
      email: cu.email,
      phone: cu.phone,
      external_id: cu.input.external_id,
      approval_day: p.approvalDay ?? null,
      occurred_at: p.ev.occurredAt,
      card_id: p.credit?.cardId ?? null,
      credit_id: p.credit?.creditId ?? null,
      credit_expires_at: p.credit ? new Date(p.credit.expiresAt).toISOString() : null,
    };
  });
  const rewarded = pairs.filter((p) => p.view!.outcome === "rewarded" && !p.credit);
  const stmts = [
    env.DB.prepare(
      `INSERT OR IGNORE INTO campaign_outcomes (id, org, campaign_id, event_id, customer_key, outcome, reason, detail, amount, delivery_id, committed,
         name, email, phone, external_id, approval_day, occurred_at, created_at, side, card_id, credit_id, credit_expires_at)
       SELECT value ->> 'id', ?1, value ->> 'campaign_id', value ->> 'event_id', value ->> 'customer_key', value ->> 'outcome', value ->> 'reason',
         value ->> 'detail', value ->> 'amount', value ->> 'delivery_id', value ->> 'committed', value ->> 'name', value ->> 'email', value ->> 'phone',
         value ->> 'external_id', value ->> 'approval_day', value ->> 'occurred_at', ?2, value ->> 'side', value ->> 'card_id', value ->> 'credit_id',
         value ->> 'credit_expires_at'
       FROM json_each(?3)`,
    ).bind(org, now, JSON.stringify(rows)),
  ];
  if (rewarded.length > 0) {
    stmts.push(
      createForCampaignRewards(
        env.DB,
        org,
        now,
        rewarded.map((p) => ({
          id: p.deliveryId,
          outcomeId: p.outcomeId,
          campaignId: p.c.id,
          eventId: p.ev.id,
          poolId: p.c.poolId,
          productId: p.c.productId,
          channel: p.c.channel,
          amount: p.claim!.amount,
          currency: p.c.currency,
        })),
      ),
    );
  }
  // The money moved: audited with the rows that record it, one event per campaign and request.
  const audit: AuditInput[] = [
    ...groupBy(
      pairs.filter((p) => p.claim),
      (p) => p.c.id,
    ).values(),
  ].map((list) => ({
    actor: "system:campaigns",
    action: "campaign.reward_committed",
    entityType: "campaign",
    entityId: list[0]!.c.id,
    after: {
      rewards: list.length,
      total: list.reduce((s, p) => s + p.claim!.amount, 0),
      // [event id, pool item (a delivery id, or a card_credit's `credit:<credit id>`), amount, outcome]: arrays, so hashing the chain need not sort a thousand objects' keys.
      items: list.map((p) => [p.ev.id, itemOf(p), p.claim!.amount, p.view!.outcome]),
    },
  }));
  await appendAudit(env.DB, org, audit, stmts);
}
