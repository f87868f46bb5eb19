/**
 * Row validation. `validateRow` is pure: it judges one row against the batch's context and gives
 * `invalid` reasons. `applyExclusions` then looks at rows that passed, against the rest of the
 * batch and the org's history (duplicates, suppressions, prior payouts, caps). Every row ends
 * valid, invalid or excluded with its reasons; none is dropped.
 */
import { emailKey, isValidEmail, toE164 } from "../core/contacts";
import { isCountry } from "../core/iso-codes";
import { hasUnsafeText } from "../core/text";
import type { ProductRow } from "../catalog/products.service";
import type { Settings } from "../settings/settings.schema";
import type { BatchRow } from "./batch-state";
import type { RawRecipient } from "./recipients.parse";

export type RecipientStatus = "valid" | "invalid" | "excluded";

export const INVALID_REASONS = [
  "malformed_row",
  "external_id_invalid",
  "name_invalid",
  "email_missing",
  "email_invalid",
  "phone_missing",
  "phone_invalid",
  "contact_missing",
  "country_missing",
  "country_invalid",
  "country_not_allowed",
  "amount_invalid",
  "amount_out_of_range",
  "currency_mismatch",
  "currency_not_allowed",
  "field_invalid",
] as const;
export const EXCLUSION_REASONS = ["duplicate_in_batch", "suppressed", "prior_payout_within_window", "per_recipient_cap"] as const;
export type Reason = (typeof INVALID_REASONS)[number] | (typeof EXCLUSION_REASONS)[number];

export interface CheckedRecipient {
  externalId: string | null;
  name: string | null;
  email: string | null;
  phone: string | null;
  country: string | null;
  amount: number | null;
  amountRaw: string | null;
  currency: string;
  fields: string | null;
  emailKey: string | null;
  phoneKey: string | null;
  status: RecipientStatus;
  reasons: Reason[];
}

export interface ValidationContext {
  org: string;
  batchId: string;
  channel: BatchRow["channel"];
  currency: string;
  minAmount: number;
  maxAmount: number;
  productCountries: ReadonlySet<string>;
  allowedCountries: ReadonlySet<string> | null;
  allowedCurrencies: ReadonlySet<string> | null;
  cap: number | undefined;
  priorPayoutWindowDays: number;
}

export function validationContext(batch: BatchRow, product: ProductRow, settings: Settings): ValidationContext {
  return {
    org: batch.org,
    batchId: batch.id,
    channel: batch.channel,
    currency: batch.currency,
    minAmount: product.minAmount,
    maxAmount: product.maxAmount,
    productCountries: new Set(JSON.parse(product.countries) as string[]),
    allowedCountries: settings.allowed_countries ? new Set(settings.allowed_countries) : null,
    allowedCurrencies: settings.allowed_currencies ? new Set(settings.allowed_currencies) : null,
    cap: settings.per_recipient_caps[batch.currency],
    priorPayoutWindowDays: settings.prior_payout_window_days,
  };
}

// eslint-disable-next-line no-control-regex
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
const text = (v: unknown): string => (typeof v === "string" ? v.trim() : typeof v === "number" ? String(v) : "");

/** Amount in minor units: whole numbers only; the range check is separate so the reasons say which. */
function readAmount(raw: unknown): { amount: number | null; amountRaw: string | null; reason?: Reason } {
  if (typeof raw === "number") {
    if (!Number.isInteger(raw)) return { amount: null, amountRaw: String(raw), reason: "amount_invalid" };
    return Number.isSafeInteger(raw) ? { amount: raw, amountRaw: null } : { amount: null, amountRaw: String(raw), reason: "amount_out_of_range" };
  }
  const s = text(raw);
  if (!/^[+-]?\d+$/.test(s)) return { amount: null, amountRaw: s === "" ? null : s.slice(0, 64), reason: "amount_invalid" };
  const n = Number(s);
  return Number.isSafeInteger(n) ? { amount: n, amountRaw: null } : { amount: null, amountRaw: s.slice(0, 64), reason: "amount_out_of_range" };
}

function checkContact(ctx: ValidationContext, r: CheckedRecipient, rawEmail: string, rawPhone: string, reasons: Reason[]) {
  if (rawEmail) {
    if (CONTROL.test(rawEmail) || !isValidEmail(rawEmail)) reasons.push("email_invalid");
    else r.emailKey = emailKey(rawEmail);
  }
  if (rawPhone) {
    const e164 = toE164(rawPhone, r.country ?? undefined);
    if (e164) r.phone = r.phoneKey = e164;
    else reasons.push("phone_invalid");
  }
  if (ctx.channel === "email" && !rawEmail) reasons.push("email_missing");
  if (ctx.channel === "sms" && !rawPhone) reasons.push("phone_missing");
  if (ctx.channel === "link" && !rawEmail && !rawPhone) reasons.push("contact_missing");
}

function checkCountry(ctx: ValidationContext, country: string, reasons: Reason[]) {
  if (!country) return void reasons.push("country_missing");
  if (!isCountry(country)) return void reasons.push("country_invalid");
  if (!ctx.productCountries.has(country) || (ctx.allowedCountries && !ctx.allowedCountries.has(country))) reasons.push("country_not_allowed");
}

/** Template fields as a JSON object text, or null when there are none. */
function checkFields(fields: Record<string, string> | undefined, reasons: Reason[]): string | null {
  if (!fields) return null;
  // Written out pair by pair: JSON.stringify of a string is fast, of a fresh per-row object much less so.
  let json = "";
  for (const k in fields) {
    const value = text(fields[k]);
    if (value.length > 500 || hasUnsafeText(value)) reasons.push("field_invalid");
    json += `${json ? "," : "{"}${JSON.stringify(k)}:${JSON.stringify(value.slice(0, 500))}`;
  }
  return json ? `${json}}` : null;
}

export function validateRow(ctx: ValidationContext, raw: RawRecipient): CheckedRecipient {
  const reasons: Reason[] = raw.malformed ? ["malformed_row"] : [];
  const externalId = text(raw.external_id);
  const name = text(raw.name);
  const rawEmail = text(raw.email);
  const rawPhone = text(raw.phone);
  const country = text(raw.country).toUpperCase();
  const currency = text(raw.currency).toUpperCase() || ctx.currency;
  const { amount, amountRaw, reason: amountReason } = readAmount(raw.amount);
  const r: CheckedRecipient = {
    externalId: externalId ? externalId.slice(0, 200) : null,
    name: name ? name.slice(0, 500) : null,
    email: rawEmail ? rawEmail.slice(0, 320) : null,
    phone: rawPhone ? rawPhone.slice(0, 64) : null,
    country: country ? country.slice(0, 8) : null,
    amount,
    amountRaw,
    currency: currency.slice(0, 8),
    fields: null,
    emailKey: null,
    phoneKey: null,
    status: "valid",
    reasons,
  };
  // Names, ids and fields reach pages, emails and SMS: the same characters as batch names are refused.
  if (externalId.length > 128 || hasUnsafeText(externalId)) reasons.push("external_id_invalid");
  if (name.length > 200 || hasUnsafeText(name)) reasons.push("name_invalid");
  checkContact(ctx, r, rawEmail, rawPhone, reasons);
  checkCountry(ctx, country, reasons);
  if (amountReason) reasons.push(amountReason);
  else if (amount! < ctx.minAmount || amount! > ctx.maxAmount) reasons.push("amount_out_of_range");
  if (currency !== ctx.currency) reasons.push("currency_mismatch");
  else if (ctx.allowedCurrencies && !ctx.allowedCurrencies.has(currency)) reasons.push("currency_not_allowed");
  r.fields = checkFields(raw.fields, reasons);
  if (reasons.length) r.status = "invalid";
  return r;
}

/** A row's identity keys by kind; any shared key makes two rows the same recipient. */
export interface KeySets {
  email: Set<string>;
  phone: Set<string>;
  external: Set<string>;
}

export const emptyKeySets = (): KeySets => ({ email: new Set(), phone: new Set(), external: new Set() });

// Empty sets are skipped outright: most facts are empty, so this saves most of the lookups.
const shares = (r: CheckedRecipient, keys: KeySets) =>
  (r.emailKey !== null && keys.email.size > 0 && keys.email.has(r.emailKey)) ||
  (r.phoneKey !== null && keys.phone.size > 0 && keys.phone.has(r.phoneKey)) ||
  (r.externalId !== null && keys.external.size > 0 && keys.external.has(r.externalId));

/** Known facts about keys, looked up in D1 for one batch of rows (see recipients.lookup.ts). */
export interface KeyFacts {
  inBatch: KeySets;
  suppressed: KeySets;
  paidRecently: KeySets;
}

/** Adds the row's keys to `seen`; true when one of them was there already. */
function addKeys(r: CheckedRecipient, seen: KeySets): boolean {
  // A Set that does not grow already held the key: one hash lookup per key instead of has + add.
  let known = false;
  if (r.emailKey !== null) {
    const n = seen.email.size;
    known = seen.email.add(r.emailKey).size === n;
  }
  if (r.phoneKey !== null) {
    const n = seen.phone.size;
    known = seen.phone.add(r.phoneKey).size === n || known;
  }
  if (r.externalId !== null) {
    const n = seen.external.size;
    known = seen.external.add(r.externalId).size === n || known;
  }
  return known;
}

/**
 * Marks exclusions, in row order. The first row with an identity (that is not invalid) is that
 * recipient's row; later rows sharing any key with it are `duplicate_in_batch`. `seen` holds the
 * keys of the upload's earlier rows and gains these rows' keys.
 */
export function applyExclusions(ctx: ValidationContext, rows: CheckedRecipient[], facts: KeyFacts, seen: KeySets = emptyKeySets()): void {
  for (const r of rows) {
    if (r.status === "invalid") continue;
    const duplicate = addKeys(r, seen) || shares(r, facts.inBatch);
    const suppressed = shares(r, facts.suppressed);
    const paid = shares(r, facts.paidRecently);
    const capped = ctx.cap !== undefined && r.amount! > ctx.cap;
    if (!(duplicate || suppressed || paid || capped)) continue;
    const excluded: Reason[] = [];
    if (duplicate) excluded.push("duplicate_in_batch");
    if (suppressed) excluded.push("suppressed");
    if (paid) excluded.push("prior_payout_within_window");
    if (capped) excluded.push("per_recipient_cap");
    r.status = "excluded";
    r.reasons = excluded;
  }
}
