/** Reads what a delivery step needs: the batch and product once, the recipients of the claimed deliveries. */
import type { Env } from "../env";
import { batchHoldId, campaignHoldId } from "../pools/op-ids";
import { getSettings } from "../settings/settings.service";
import type { RevealedCode } from "./rewards";
import type { RewardTemplate } from "./templates";

export interface DeliveryContext {
  org: string;
  /** Null for a campaign's rewards (campaignId set instead). */
  batchId: string | null;
  campaignId: string | null;
  /** The pool hold the value commits from (a campaign's rewards arrive already committed). */
  holdId: string;
  batchName: string;
  poolId: string;
  productId: string;
  productKind: "inventory" | "stored_value";
  productName: string;
  currency: string;
  campaign: string;
  expiresAfterDays: number | null;
  template: RewardTemplate | null;
}

export interface ClaimedRow {
  id: string;
  recipient_id: string;
  amount: number;
  code_id: string | null;
  card_id: string | null;
  committed: number;
  item: string;
  channel: "email" | "sms" | "link";
  attempts: number;
}

export interface Claimed extends ClaimedRow {
  recipient: { name: string | null; email: string | null; phone: string | null; externalId: string | null; fields: Record<string, string> | null };
  recipientKey: string | null;
  /** The plain code of a card issued in this run (memory only), so it need not be read back and decrypted. */
  fresh?: RevealedCode;
}

type ContextRow = Record<string, string | number | null>;

/** What a batch and a campaign context share: the pool, the product and the org's template. */
async function contextOf(
  env: Env,
  org: string,
  row: ContextRow,
  owner: Pick<DeliveryContext, "batchId" | "campaignId" | "holdId" | "campaign">,
): Promise<DeliveryContext> {
  const settings = await getSettings(env.DB, org);
  return {
    org,
    ...owner,
    batchName: String(row.name),
    poolId: String(row.pool_id),
    productId: String(row.product_id),
    currency: String(row.currency),
    productKind: row.kind as DeliveryContext["productKind"],
    productName: String(row.product_name),
    expiresAfterDays: row.expires_after_days as number | null,
    template: settings.reward_template,
  };
}

/** The batch must be delivering (a cancelled or finished batch sends nothing more). */
export async function loadContext(env: Env, org: string, batchId: string): Promise<DeliveryContext | null> {
  const row = await env.DB.prepare(
    `SELECT b.id, b.name, b.campaign, b.pool_id, b.product_id, b.currency, p.kind, p.name AS product_name, p.expires_after_days
     FROM batches b JOIN products p ON p.id = b.product_id WHERE b.id = ? AND b.org = ? AND b.status = 'delivering'`,
  )
    .bind(batchId, org)
    .first<ContextRow>();
  return row ? contextOf(env, org, row, { batchId, campaignId: null, holdId: batchHoldId(batchId), campaign: String(row.campaign) }) : null;
}

/**
 * A campaign's rewards deliver while it exists in any status: a reward granted before a pause or the end is still owed.
 * Its cards expire after the campaign's `reward.expires_after_days` when it sets one, else the product's.
 */
export async function loadCampaignContext(env: Env, org: string, campaignId: string): Promise<DeliveryContext | null> {
  const row = await env.DB.prepare(
    `SELECT c.id, c.name, c.pool_id, c.product_id, c.currency, p.kind, p.name AS product_name,
            coalesce(c.reward ->> '$.expires_after_days', p.expires_after_days) AS expires_after_days
     FROM campaigns c JOIN products p ON p.id = c.product_id WHERE c.id = ? AND c.org = ?`,
  )
    .bind(campaignId, org)
    .first<ContextRow>();
  return row ? contextOf(env, org, row, { batchId: null, campaignId, holdId: campaignHoldId(campaignId, 0), campaign: String(row.name) }) : null;
}

/**
 * The recipients of claimed deliveries: batch recipients, or for a campaign's rewards their outcome
 * rows. One table per call (a batch's deliveries never point at campaign outcomes): asking both
 * cost two rows read per delivery for nothing.
 */
export async function attachRecipients(env: Env, ctx: Pick<DeliveryContext, "batchId">, rows: ClaimedRow[]): Promise<Claimed[]> {
  if (rows.length === 0) return [];
  const { results } = await env.DB.prepare(
    ctx.batchId
      ? "SELECT id, name, email, phone, external_id, COALESCE(email_key, phone_key) AS recipient_key, fields FROM batch_recipients WHERE id IN (SELECT value FROM json_each(?1))"
      : "SELECT id, name, email, phone, external_id, customer_key AS recipient_key, NULL AS fields FROM campaign_outcomes WHERE id IN (SELECT value FROM json_each(?1))",
  )
    .bind(JSON.stringify(rows.map((r) => r.recipient_id)))
    .all<Record<string, string | null>>();
  const byId = new Map(results.map((r) => [r.id!, r]));
  return rows.map((row) => {
    const r = byId.get(row.recipient_id);
    return {
      ...row,
      recipient: {
        name: r?.name ?? null,
        email: r?.email ?? null,
        phone: r?.phone ?? null,
        externalId: r?.external_id ?? null,
        fields: r?.fields ? (JSON.parse(r.fields) as Record<string, string>) : null,
      },
      recipientKey: r?.recipient_key ?? null,
    };
  });
}
