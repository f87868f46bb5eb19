/**
 * Checkout on one card's ledger: redeem (capture now, or hold until capture, void or expiry),
 * capture (all or part of a hold; the rest goes back), void, refund (all or part, back to the
 * buckets the value came from, latest-expiring first). Each function checks, then changes the
 * buckets through `CardLedger.record`, which writes one transaction with the balance before and after.
 */
import type { z } from "zod";
import { newId } from "../src/core/ids";
import { type CardLedger, type Ok, spendOrder } from "./card-ledger";
import { type CaptureArgs, type CardFailure, fail, type RedeemArgs, type Redemption, type RefundArgs, type VoidArgs } from "./card-types";

export function redeem(l: CardLedger, a: z.infer<typeof RedeemArgs>): Ok<{ redemption: Redemption }> | CardFailure {
  if (a.currency !== l.meta.currency) return fail("currency_mismatch", `The card holds ${l.meta.currency}, not ${a.currency}`);
  const refused = l.refusal(true);
  if (refused) return refused;
  const prior = l.store.redemptionByReference(a.reference);
  if (prior)
    return fail("duplicate_reference", `Reference ${a.reference} was already used on this card by redemption ${prior.id}`, { redemption_id: prior.id });
  const available = l.balance().available;
  const amount = a.allowPartial ? Math.min(a.amount, available) : a.amount;
  if (amount === 0 || amount > available) return fail("insufficient_balance", `The card has ${available} available; asked ${a.amount}`, { available });
  if (!a.capture && (a.holdExpiresAt === null || a.holdExpiresAt <= l.now))
    return fail("invalid_argument", "A pending redemption needs a future holdExpiresAt");
  const r: Redemption = {
    id: newId("rdm", l.now),
    reference: a.reference,
    status: a.capture ? "captured" : "pending",
    requested: a.amount,
    amount,
    captured: a.capture ? amount : 0,
    refunded: 0,
    hold_expires_at: a.capture ? null : a.holdExpiresAt,
    parts: [],
    actor: a.actor,
    created_at: l.now,
    updated_at: l.now,
    seq: 0,
  };
  l.record(
    a.capture ? "redeem" : "hold",
    amount,
    { ...a, redemptionId: r.id },
    () => {
      let rest = amount;
      for (const b of l.buckets.filter((k) => k.state === "active" && k.remaining > 0).sort(spendOrder)) {
        const take = Math.min(b.remaining, rest);
        if (take === 0) break;
        b.remaining -= take;
        if (a.capture) b.spent += take;
        else b.held += take;
        r.parts.push({ b: b.bucket_id, held: a.capture ? 0 : take, captured: a.capture ? take : 0, refunded: 0 });
        rest -= take;
      }
    },
    r,
  );
  return { ok: true, redemption: r };
}

export function capture(l: CardLedger, a: z.infer<typeof CaptureArgs>): Ok<{ redemption: Redemption }> | CardFailure {
  const r = l.store.redemption(a.redemptionId);
  if (!r) return fail("redemption_not_found", `No redemption ${a.redemptionId} on this card`);
  if (r.status !== "pending") return fail("redemption_not_pending", `Redemption ${r.id} is ${r.status}`);
  if (l.meta.reversed) return fail("card_reversed", "The card has been reversed");
  if (l.meta.frozen) return fail("card_frozen", "The card is frozen; void the hold or unfreeze the card");
  const amount = a.amount ?? r.amount;
  if (amount > r.amount) return fail("invalid_amount", `At most the held ${r.amount} can be captured; asked ${amount}`);
  l.record(
    "capture",
    amount,
    { ...a, reference: r.reference },
    () => {
      let rest = amount;
      for (const p of r.parts) {
        const b = l.bucket(p.b);
        const take = Math.min(p.held, rest);
        b.held -= take;
        b.spent += take;
        p.captured += take;
        rest -= take;
        l.giveBack(b, p.held - take, "held");
        p.held = 0;
      }
      r.status = "captured";
      r.amount = amount;
      r.captured = amount;
    },
    r,
  );
  return { ok: true, redemption: r };
}

export function voidHold(l: CardLedger, a: z.infer<typeof VoidArgs>): Ok<{ redemption: Redemption }> | CardFailure {
  const r = l.store.redemption(a.redemptionId);
  if (!r) return fail("redemption_not_found", `No redemption ${a.redemptionId} on this card`);
  if (r.status !== "pending") return fail("redemption_not_pending", `Redemption ${r.id} is ${r.status}`);
  l.endHold(r, "voided", a);
  return { ok: true, redemption: r };
}

export function refund(l: CardLedger, a: z.infer<typeof RefundArgs>): Ok<{ redemption: Redemption; refunded: number; to_expired: number }> | CardFailure {
  const r = l.store.redemption(a.redemptionId);
  if (!r) return fail("redemption_not_found", `No redemption ${a.redemptionId} on this card`);
  if (r.status !== "captured") return fail("redemption_not_captured", `Redemption ${r.id} is ${r.status}; only a captured redemption can be refunded`);
  // The card's value went back to its pools when it was reversed; a refund now would have nowhere to go.
  if (l.meta.reversed) return fail("card_reversed", "The card has been reversed; refund the customer another way");
  const refundable = r.captured - r.refunded;
  const amount = a.amount ?? refundable;
  if (amount > refundable) return fail("invalid_amount", `At most ${refundable} of redemption ${r.id} can be refunded; asked ${amount}`);
  let lapsed = 0;
  l.record(
    "refund",
    amount,
    { ...a, reference: r.reference },
    () => {
      let rest = amount;
      // Latest-expiring value first: a refund restores the longest-lived value the card had.
      for (const p of [...r.parts].reverse()) {
        const take = Math.min(p.captured - p.refunded, rest);
        if (take === 0) continue;
        const b = l.bucket(p.b);
        if (b.state !== "active") lapsed += take;
        l.giveBack(b, take, "spent");
        p.refunded += take;
        rest -= take;
      }
      r.refunded += amount;
      if (r.refunded === r.captured) r.status = "refunded";
    },
    r,
  );
  return { ok: true, redemption: r, refunded: amount, to_expired: lapsed };
}
