/**
 * Reward messages: the org's template (settings.reward_template) or the built-in one, with
 * {{placeholders}} filled from the recipient row and the reward. Every value is HTML-escaped in
 * html and put on one line in the subject and SMS, so a name like "</p><script>" or
 * "x\r\nBcc: y" stays plain text. Templates themselves are the org admin's trusted input.
 * Validation already refuses controls, bidi overrides and zero-width characters in names and
 * fields; values and whole subjects and SMS lose them here too, for rows stored before that.
 */
import { formatMoney } from "../core/money";
import { stripUnsafeText } from "../core/text";

export interface RewardMessageInput {
  recipientName: string | null;
  amount: number;
  currency: string;
  productName: string;
  batchName: string;
  campaign?: string;
  code: string;
  expiresAt: string | null;
  claimUrl?: string;
  fields?: Record<string, string> | null;
}

export interface RewardTemplate {
  subject: string;
  text: string;
  html?: string;
  sms?: string;
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
/** One line of plain text: line breaks, separators, controls and format characters (bidi, zero-width) become a space. */
export const oneLine = (s: string) => stripUnsafeText(s).trim();

export const BUILT_IN_TEMPLATE: RewardTemplate = {
  subject: "Your {{amount}} {{product}} reward",
  text: "Hi {{name}},\n\nYou have received a {{amount}} {{product}} reward.\nYour code: {{code}}\n{{expiry}}",
  html: `<!doctype html><html><body style="font-family:system-ui,sans-serif">
<p>Hi {{name}},</p>
<p>You have received a <strong>{{amount}}</strong> {{product}} reward.</p>
<p style="font-size:1.4em;letter-spacing:.1em"><code>{{code}}</code></p>
<p>{{expiry}}</p>
</body></html>`,
  sms: "{{amount}} {{product}} reward: {{claim_url}}",
};

function values(m: RewardMessageInput): Record<string, string> {
  const v: Record<string, string> = {
    name: oneLine(m.recipientName ?? "") || "there",
    amount: formatMoney(m.amount, m.currency),
    product: m.productName,
    code: m.code,
    expiry: m.expiresAt ? `Valid until ${m.expiresAt.slice(0, 10)}.` : "",
    claim_url: m.claimUrl ?? m.code,
    campaign: m.campaign ?? "",
  };
  for (const [k, x] of Object.entries(m.fields ?? {})) v[`fields.${k}`] = String(x);
  return v;
}

/** Fills {{placeholders}}; unknown ones become empty; `encode` makes each value safe for its place. */
export function fill(template: string, vals: Record<string, string>, encode: (s: string) => string): string {
  return template.replace(/\{\{\s*([a-z_]+(?:\.[A-Za-z0-9_]+)?)\s*\}\}/g, (_, key: string) => encode(vals[key] ?? ""));
}

export function rewardEmail(m: RewardMessageInput, t: RewardTemplate = BUILT_IN_TEMPLATE) {
  const v = values(m);
  const subject = oneLine(fill(t.subject, v, oneLine)).slice(0, 300);
  const text = fill(t.text, v, oneLine).trimEnd();
  const html = fill(t.html ?? `<pre>${escapeHtml(t.text)}</pre>`, v, (s) => escapeHtml(oneLine(s)));
  return { subject, text, html };
}

export function rewardSms(m: RewardMessageInput, t: RewardTemplate = BUILT_IN_TEMPLATE): string {
  return oneLine(fill(t.sms ?? BUILT_IN_TEMPLATE.sms!, values(m), oneLine)).slice(0, 320);
}
