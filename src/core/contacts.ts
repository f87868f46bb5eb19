/**
 * Normalised identities of a recipient. The same functions serve recipient validation,
 * suppressions and prior-payout checks, so "the same person" means the same thing everywhere.
 */
import { isSupportedCountry, Metadata, parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js/min";

export const MAX_EMAIL_LENGTH = 254;
// The WHATWG (HTML) email grammar, plus a dotted domain: what real mail systems accept, ASCII only.
const EMAIL_RE = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

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
/** Metadata's calling-code check, which its type declarations leave out. */
const knownCallingCode = (code: string) => (metadata as unknown as { hasCallingCode(code: string): boolean }).hasCallingCode(code);

/** The number types libphonenumber's getNumberType tries; a number is valid when it is one of them. */
const NUMBER_TYPES = ["FIXED_LINE", "MOBILE", "PREMIUM_RATE", "TOLL_FREE", "SHARED_COST", "VOIP", "PERSONAL_NUMBER", "PAGER", "UAN", "VOICEMAIL"] as const;

/** The numbering plan that libphonenumber selects for a calling code, with its patterns compiled once. */
interface Plan {
  general: RegExp;
  /** null when the metadata has no per-type patterns (then the general pattern decides). */
  types: { pattern: RegExp; lengths: number[] | undefined }[] | null;
  /** The pattern of a national prefix that parsing would strip after the code, if any. */
  nationalPrefix: RegExp | null;
}

interface PlanMetadata {
  nationalNumberPattern(): string;
  nationalPrefixForParsing(): string | undefined;
  hasTypes(): boolean;
  type(name: string): { pattern(): string; possibleLengths(): number[] | undefined } | undefined;
}

const plans = new Map<string, Plan>();
// As libphonenumber's matchesEntirely builds them.
const entire = (pattern: string) => new RegExp(`^(?:${pattern})$`);

function planFor(callingCode: string): Plan {
  let plan = plans.get(callingCode);
  if (!plan) {
    metadata.selectNumberingPlan(callingCode as CountryCode);
    const meta = metadata.numberingPlan as unknown as PlanMetadata;
    const prefix = meta.nationalPrefixForParsing();
    plan = {
      general: entire(meta.nationalNumberPattern()),
      types: meta.hasTypes()
        ? NUMBER_TYPES.flatMap((name) => {
            const t = meta.type(name);
            return t?.pattern() ? [{ pattern: entire(t.pattern()), lengths: t.possibleLengths() }] : [];
          })
        : null,
      nationalPrefix: prefix ? new RegExp(`^(?:${prefix})`) : null,
    };
    plans.set(callingCode, plan);
  }
  return plan;
}

/**
 * True when `raw` is already E.164 and libphonenumber's parse would keep it as it is and call it
 * valid. This is `new PhoneNumber(raw).isValid()` (the calling code's main numbering plan: the
 * national number matches its general pattern and one number type's pattern and lengths) with
 * the plan's patterns compiled once instead of re-created per call, and without the parser's
 * text extraction: about 1 µs instead of 6–8 µs per number in workerd. A `false` only means
 * "take the full parse", which is the judge: numbers of a calling code's other countries (+1 in
 * Canada), and numbers whose national part starts with the national prefix (parsing may strip it).
 */
function isValidCanonical(raw: string): boolean {
  if (!CANONICAL.test(raw)) return false;
  // The calling code is the shortest prefix of 1–3 digits that is one, as extractCountryCallingCode reads it.
  let callingCode = "";
  for (let i = 2; i <= 4; i++) {
    if (knownCallingCode(raw.slice(1, i))) {
      callingCode = raw.slice(1, i);
      break;
    }
  }
  if (!callingCode) return false;
  const national = raw.slice(1 + callingCode.length);
  const plan = planFor(callingCode);
  if (!plan.general.test(national)) return false;
  if (plan.types && !plan.types.some((t) => (!t.lengths || t.lengths.includes(national.length)) && t.pattern.test(national))) return false;
  return !plan.nationalPrefix?.test(national);
}

/** A phone number in E.164 (`+14155550123`), or null when it is not a valid number. */
export function toE164(raw: string, country?: string): string | null {
  if (raw.length > 40 || /[\r\n]/.test(raw)) return null;
  if (isValidCanonical(raw)) return raw;
  const defaultCountry = country && isSupportedCountry(country) ? (country as CountryCode) : undefined;
  const parsed = parsePhoneNumberFromString(raw, defaultCountry ? { defaultCountry } : undefined);
  if (!parsed?.isValid()) return null;
  return parsed.number;
}
