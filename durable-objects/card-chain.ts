/**
 * A card's own hash chain: every transaction's hash covers the previous one's and the transaction
 * itself (card, seq, kind, amounts, balances before and after, actor, reference, time), so a card's
 * history cannot be edited, reordered or cut in the middle without the recomputed chain breaking.
 * The card's Durable Object computes it as it appends; its D1 audit trail (`card_audit`, one row per
 * mirror flush) carries each transaction with its hash, so the trail can be checked in D1 alone
 * (src/cards/card-audit.ts) and its head against the object's.
 */
import { canonicalJson, sha256HexSync } from "../src/core/crypto";
import type { CardTxn } from "./card-types";

export const CARD_GENESIS = "0".repeat(64);

/** The exact text a transaction's hash covers (besides the previous hash). */
export function canonicalTxn(cardId: string, org: string, t: Omit<CardTxn, "hash">): string {
  return canonicalJson({
    card_id: cardId,
    org,
    seq: t.seq,
    op_id: t.op_id,
    kind: t.kind,
    amount: t.amount,
    redemption_id: t.redemption_id,
    bucket_id: t.bucket_id,
    before: t.before,
    after: t.after,
    actor: t.actor,
    reference: t.reference,
    created_at: t.created_at,
  });
}

export function txnHash(prevHash: string, cardId: string, org: string, t: Omit<CardTxn, "hash">): string {
  return sha256HexSync(`${prevHash}\n${canonicalTxn(cardId, org, t)}`);
}
