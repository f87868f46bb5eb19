/**
 * One customer profile checked the way batch recipients are (src/batches/recipients.validate.ts):
 * the same email grammar and E.164 phones (src/core/contacts.ts), ISO countries, readable text; plus
 * an IANA time zone and bounded attributes. `checkProfile` gives reasons with the field they concern:
 * PUT answers them as 400 pointers, an import as the row's reasons.
 */
import { isValidEmail, toE164 } from "../core/contacts";
import { isCountry } from "../core/iso-codes";
import { hasUnsafeText } from "../core/text";
import { type CustomerProfile, monthDayOf } from "./customer-store";

export const CUSTOMER_REASONS = [
  "malformed_row",
  "external_id_missing",
  "external_id_invalid",
  "name_invalid",
  "email_invalid",
  "phone_invalid",
  "country_invalid",
  "time_zone_invalid",
  "attribute_invalid",
  "date_invalid",
  "attributes_too_large",
] as const;
export type CustomerReason = (typeof CUSTOMER_REASONS)[number];

export interface ProfileProblem {
  reason: CustomerReason;
  /** JSON pointer of the field in a PUT body (`/email`, `/attributes/tier`). */
  pointer: string;
  detail: string;
}

/** An attribute's name: what a CEL condition can reach as `customer.attributes.<name>`. */
export const ATTRIBUTE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
export const MAX_ATTRIBUTES = 100;
export const MAX_ATTRIBUTE_TEXT = 1000;
export const MAX_ATTRIBUTE_LIST = 100;
/** The attributes' JSON, in bytes: a profile row stays small enough to read by the page. */
export const MAX_ATTRIBUTES_BYTES = 16 * 1024;
export const MAX_EXTERNAL_ID = 200;

export interface ProfileInput {
  external_id?: unknown;
  email?: unknown;
  phone?: unknown;
  name?: unknown;
  country?: unknown;
  time_zone?: unknown;
  attributes?: unknown;
}

const text = (v: unknown): string => (typeof v === "string" ? v.trim() : typeof v === "number" ? String(v) : "");

/** The canonical name of an IANA zone (`Europe/Paris`, `UTC`), or null; offsets like `+01:00` are not zones. */
export function ianaZone(raw: string): string | null {
  if (raw.length > 64 || !/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/.test(raw)) return null;
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone: raw }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

const isScalar = (v: unknown) => typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));

function checkValue(v: unknown): string | null {
  if (typeof v === "string") return v.length > MAX_ATTRIBUTE_TEXT || hasUnsafeText(v) ? `text of at most ${MAX_ATTRIBUTE_TEXT} readable characters` : null;
  if (isScalar(v)) return null;
  if (Array.isArray(v)) {
    if (v.length > MAX_ATTRIBUTE_LIST) return `a list of at most ${MAX_ATTRIBUTE_LIST} values`;
    return v.every((x) => isScalar(x) && checkValue(x) === null) ? null : "a list of texts, numbers or booleans";
  }
  return "a text, number, boolean or a list of them (attributes are flat)";
}

/** Text shaped like a date (`YYYY-MM-DD…`, `--MM-DD`): the date triggers index it, so it must be a real calendar date. */
const DATE_SHAPED = /^(?:\d{4}|-)-\d{1,2}-\d{1,2}(?:$|T)/;
/** Attributes that are dates by name: their value must be a date the date triggers can read. */
const DATE_NAME = /^(?:birthday|anniversary|.*_date)$/;

/**
 * Why a date attribute's value is not a date, or null. A value shaped like a date must be a real
 * calendar date (`1990-13-45` and `1991-02-29` are not; `--02-29`, a birthday without its year, is),
 * and a date-time must parse; `birthday`, `anniversary` and any `*_date` must hold such a date.
 */
export function dateProblem(name: string, value: unknown): string | null {
  const shaped = typeof value === "string" && DATE_SHAPED.test(value);
  if (!shaped && !DATE_NAME.test(name)) return null;
  const ok = typeof value === "string" && monthDayOf(value) !== null && (!value.includes("T") || !Number.isNaN(Date.parse(value)));
  return ok ? null : `${name} must be a calendar date: YYYY-MM-DD (optionally with a time) or --MM-DD without the year`;
}

/** Whether one attribute may be stored on a profile (an event's attributes that may not still reach its rules). */
export function isStorableAttribute(name: string, value: unknown): boolean {
  return ATTRIBUTE_NAME.test(name) && (value === null || checkValue(value) === null);
}

/** Attributes without their null values (null means "not set"), or the problems that refuse them. */
function checkAttributes(raw: unknown, problems: ProfileProblem[]): Record<string, unknown> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    problems.push({ reason: "attribute_invalid", pointer: "/attributes", detail: "attributes must be a JSON object" });
    return {};
  }
  const out: Record<string, unknown> = {};
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > MAX_ATTRIBUTES) {
    problems.push({ reason: "attributes_too_large", pointer: "/attributes", detail: `At most ${MAX_ATTRIBUTES} attributes` });
    return {};
  }
  for (const [k, v] of entries) {
    const pointer = `/attributes/${k.replaceAll("~", "~0").replaceAll("/", "~1")}`;
    if (!ATTRIBUTE_NAME.test(k)) {
      problems.push({ reason: "attribute_invalid", pointer, detail: "An attribute name is a letter or _, then letters, digits or _ (at most 64)" });
      continue;
    }
    if (v === null) continue;
    const bad = checkValue(v);
    const badDate = bad ? null : dateProblem(k, v);
    if (bad) problems.push({ reason: "attribute_invalid", pointer, detail: `${k} must be ${bad}` });
    else if (badDate) problems.push({ reason: "date_invalid", pointer, detail: badDate });
    else out[k] = v;
  }
  if (new TextEncoder().encode(JSON.stringify(out)).byteLength > MAX_ATTRIBUTES_BYTES) {
    problems.push({ reason: "attributes_too_large", pointer: "/attributes", detail: `The attributes exceed ${MAX_ATTRIBUTES_BYTES} bytes as JSON` });
  }
  return out;
}

/**
 * The profile as it will be stored (trimmed text, upper-case country, E.164 phone, canonical time
 * zone; empty fields absent), and every problem found. Contact details are checked like a batch
 * recipient's; a profile may have no contact at all (an event can still name it, a reward cannot reach it).
 */
export function checkProfile(raw: ProfileInput): { profile: CustomerProfile; problems: ProfileProblem[] } {
  const problems: ProfileProblem[] = [];
  const externalId = text(raw.external_id);
  if (!externalId) problems.push({ reason: "external_id_missing", pointer: "/external_id", detail: "external_id is required" });
  else if (externalId.length > MAX_EXTERNAL_ID || hasUnsafeText(externalId))
    problems.push({ reason: "external_id_invalid", pointer: "/external_id", detail: `At most ${MAX_EXTERNAL_ID} readable characters` });
  const name = text(raw.name);
  if (name && (name.length > 200 || hasUnsafeText(name)))
    problems.push({ reason: "name_invalid", pointer: "/name", detail: "At most 200 readable characters" });
  const country = text(raw.country).toUpperCase();
  if (country && !isCountry(country))
    problems.push({ reason: "country_invalid", pointer: "/country", detail: `${country.slice(0, 8)} is not an ISO 3166-1 alpha-2 code` });
  const email = text(raw.email);
  if (email && !isValidEmail(email)) problems.push({ reason: "email_invalid", pointer: "/email", detail: "Not a valid email address" });
  const rawPhone = text(raw.phone);
  const phone = rawPhone ? toE164(rawPhone, isCountry(country) ? country : undefined) : null;
  if (rawPhone && !phone) problems.push({ reason: "phone_invalid", pointer: "/phone", detail: "Not a valid phone number (E.164, or national with a country)" });
  const rawZone = text(raw.time_zone);
  const zone = rawZone ? ianaZone(rawZone) : null;
  if (rawZone && !zone) problems.push({ reason: "time_zone_invalid", pointer: "/time_zone", detail: `${rawZone.slice(0, 64)} is not an IANA time zone` });
  const attributes = checkAttributes(raw.attributes, problems);
  return {
    profile: {
      external_id: externalId,
      email: email || null,
      phone,
      name: name || null,
      country: country || null,
      time_zone: zone,
      attributes,
    },
    problems,
  };
}
