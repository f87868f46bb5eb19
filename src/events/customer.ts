/** An event's customer: contact details checked like a batch recipient's, and one identity key. */
import { emailKey, isValidEmail, toE164 } from "../core/contacts";

export interface CustomerInput {
  external_id: string;
  email?: string;
  phone?: string;
  name?: string;
  country?: string;
  attributes?: Record<string, unknown>;
}

export interface Customer {
  input: CustomerInput;
  email: string | null;
  phone: string | null;
  emailKey: string | null;
  /**
   * The identity caps count by, as batch validation compares recipients: the normalised email (no
   * `+tag`, lower case), else the E.164 phone, else the external id.
   */
  key: string;
}

export function readCustomer(c: CustomerInput): Customer {
  const email = c.email && isValidEmail(c.email.trim()) ? c.email.trim() : null;
  const phone = c.phone ? toE164(c.phone.trim(), c.country) : null;
  const key = email ? `email:${emailKey(email)}` : phone ? `phone:${phone}` : `ext:${c.external_id}`;
  return { input: c, email, phone, emailKey: email ? emailKey(email) : null, key };
}

/** Whether the customer can be reached on the campaign's channel (a `link` needs an email or a phone). */
export function reachable(c: Customer, channel: "email" | "sms" | "link"): boolean {
  if (channel === "email") return c.email !== null;
  if (channel === "sms") return c.phone !== null;
  return c.email !== null || c.phone !== null;
}
