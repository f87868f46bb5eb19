/**
 * Normalised identities of a recipient. The same functions serve recipient validation,
 * suppressions and prior-payout checks, so "the same person" means the same thing everywhere.
 */
import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js/min";

export const MAX_EMAIL_LENGTH = 254;
// The WHATWG (HTML) email grammar, plus a dotted domain: what real mail systems accept, ASCII only.
const EMAIL_RE =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/** True when `email` (already trimmed) is a deliverable-looking address of at most 254 characters. */
export function isValidEmail(email: string): boolean {
  return email.length <= MAX_EMAIL_LENGTH && EMAIL_RE.test(email);
}

/**
 * The identity key of an email: lower-cased, with any `+tag` removed from the local part, because
 * most providers deliver `ann+promo@x.com` to `ann@x.com` and one person must not collect a reward
 * per tag. Dots stay: only some providers ignore them (reported as near duplicates instead).
 */
export function emailKey(email: string): string {
  const lower = email.toLowerCase();
  const at = lower.lastIndexOf("@");
  const local = lower.slice(0, at);
  const plus = local.indexOf("+");
  return plus > 0 ? `${local.slice(0, plus)}${lower.slice(at)}` : lower;
}

/** A phone number in E.164 (`+14155550123`), or null when it is not a valid number. */
export function toE164(raw: string, country?: string): string | null {
  if (raw.length > 40 || /[\r\n]/.test(raw)) return null;
  const defaultCountry = country && isSupportedCountry(country) ? (country as CountryCode) : undefined;
  const parsed = parsePhoneNumberFromString(raw, defaultCountry ? { defaultCountry } : undefined);
  if (!parsed || !parsed.isValid()) return null;
  return parsed.number;
}
