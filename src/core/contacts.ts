/**
 * Normalised identities of a recipient. The same functions serve recipient validation,
 * suppressions and prior-payout checks, so "the same person" means the same thing everywhere.
 */
import { isSupportedCountry, Metadata, parsePhoneNumberFromString, PhoneNumber, type CountryCode, type E164Number } from "libphonenumber-js/min";

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

const CANONICAL = /^\+[1-9]\d{6,14}$/;
const metadata = new Metadata();
/** Per calling code: the pattern of a national prefix that parsing would strip after the code, if any. */
const nationalPrefixes = new Map<string, RegExp | null>();

function nationalPrefix(callingCode: string): RegExp | null {
  let re = nationalPrefixes.get(callingCode);
  if (re === undefined) {
    metadata.selectNumberingPlan(callingCode as CountryCode);
    const plan = metadata.numberingPlan as unknown as { nationalPrefixForParsing(): string | undefined };
    const pattern = plan.nationalPrefixForParsing();
    re = pattern ? new RegExp(`^(?:${pattern})`) : null;
    nationalPrefixes.set(callingCode, re);
  }
  return re;
}

/**
 * True when `raw` is already E.164 and libphonenumber's parse would keep it as it is and call it
 * valid. The shortcut skips the parser's text extraction (about 3x the cost of the check itself).
 * Parsing differs from the plain reading of `+<code><national>` only when the national part
 * starts with the country's national prefix (it may strip it), so those numbers take the full parse.
 */
function isValidCanonical(raw: string): boolean {
  if (!CANONICAL.test(raw)) return false;
  let number: PhoneNumber;
  try {
    number = new PhoneNumber(raw as E164Number);
  } catch {
    return false;
  }
  if (!number.isValid()) return false;
  return !nationalPrefix(number.countryCallingCode)?.test(number.nationalNumber);
}

/** A phone number in E.164 (`+14155550123`), or null when it is not a valid number. */
export function toE164(raw: string, country?: string): string | null {
  if (raw.length > 40 || /[\r\n]/.test(raw)) return null;
  if (isValidCanonical(raw)) return raw;
  const defaultCountry = country && isSupportedCountry(country) ? (country as CountryCode) : undefined;
  const parsed = parsePhoneNumberFromString(raw, defaultCountry ? { defaultCountry } : undefined);
  if (!parsed || !parsed.isValid()) return null;
  return parsed.number;
}
