/**
 * The recipient's claim page for the `link` channel (and the link inside reward SMS). The signed
 * token is the credential; it shows the code only while the delivery is `delivered` (a reissued
 * or reversed reward's old link stops working) and records the first opening once, audited.
 */
import { appendAudit } from "../audit/audit";
import { isGuardFailure, requireChanged } from "../core/guard";
import { verifyClaimToken } from "../delivery/claim-links";
import { revealCodes } from "../delivery/rewards";
import type { Env } from "../env";
import { cardStub, findCard, seedOf } from "../cards/cards.store";
import { findDelivery } from "./delivery-store";

export interface ClaimView {
  code: string;
  amount: number;
  currency: string;
  productName: string;
  expiresAt: string | null;
  /** A stored-value card's live balance and the expiry of each part still spendable (from its ledger). */
  card?: { status: string; available: number; pending: number; expiries: { amount: number; expiresAt: string | null }[] };
}

export async function openClaim(env: Env, token: string): Promise<ClaimView | null> {
  const claim = await verifyClaimToken(env, token);
  if (!claim) return null;
  const d = await findDelivery(env.DB, claim.org, claim.deliveryId);
  if (d?.status !== "delivered") return null;
  const [codes, product] = await Promise.all([
    revealCodes(env, d.org, [{ deliveryId: d.id, codeId: d.codeId, cardId: d.cardId }]),
    env.DB.prepare("SELECT name FROM products WHERE id = ?").bind(d.productId).first<{ name: string }>(),
  ]);
  const code = codes.get(d.id);
  if (!code) return null;
  if (!d.claimOpenedAt) await recordFirstOpen(env, d.org, d.id);
  const card = d.cardId ? await liveCard(env, d.org, d.cardId) : undefined;
  return { code: code.code, amount: d.amount, currency: d.currency, productName: product?.name ?? "Reward", expiresAt: code.expiresAt, card };
}

async function liveCard(env: Env, org: string, cardId: string): Promise<ClaimView["card"]> {
  const row = await findCard(env, org, cardId);
  if (!row) return undefined;
  const { card } = await cardStub(env, cardId).detail(seedOf(row), 0);
  const expiries = card.buckets
    .filter((b) => b.state === "active" && b.remaining > 0)
    .map((b) => ({ amount: b.remaining, expiresAt: b.expires_at === null ? null : new Date(b.expires_at).toISOString() }));
  return { status: card.status, available: card.balance.available, pending: card.balance.pending, expiries };
}

/** Conditional on the column still being empty: two racing first opens write one event. */
async function recordFirstOpen(env: Env, org: string, deliveryId: string): Promise<void> {
  const at = new Date().toISOString();
  const mark = env.DB.prepare("UPDATE deliveries SET claim_opened_at = ?2 WHERE id = ?1 AND claim_opened_at IS NULL").bind(deliveryId, at);
  try {
    await appendAudit(
      env.DB,
      org,
      [{ actor: "recipient", action: "delivery.claim_opened", entityType: "delivery", entityId: deliveryId, after: { claim_opened_at: at } }],
      [mark, requireChanged(env.DB)],
    );
  } catch (err) {
    if (!isGuardFailure(err)) throw err;
  }
}
