/**
 * Reward messages. Every field from a recipient row or batch is escaped for HTML and stripped of
 * CR/LF where it lands in a header-like place (subject, SMS), so a name like "</p><script>" or
 * "x\r\nBcc: y" stays plain text.
 */
export interface RewardMessageInput {
  recipientName: string | null;
  amount: number;
  currency: string;
  productName: string;
  batchName: string;
  code: string;
  expiresAt: string | null;
  claimUrl?: string;
  message?: string | null;
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
export const oneLine = (s: string) => s.replace(/[\r\n\u2028\u2029]+/g, " ").trim();

export function formatMoney(amount: number, currency: string): string {
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency }).format(amount / 100);
  } catch {
    return `${(amount / 100).toFixed(2)} ${currency}`;
  }
}

export function rewardEmail(m: RewardMessageInput) {
  const name = oneLine(m.recipientName ?? "") || "there";
  const value = formatMoney(m.amount, m.currency);
  const product = oneLine(m.productName);
  const expiry = m.expiresAt ? `Valid until ${m.expiresAt.slice(0, 10)}.` : "";
  const subject = oneLine(`Your ${value} ${product} reward`).slice(0, 200);
  const text = [`Hi ${name},`, "", `You have received a ${value} ${product} reward.`, `Your code: ${m.code}`, expiry, m.message ? oneLine(m.message) : ""]
    .filter((l, i) => l !== "" || i === 1)
    .join("\n");
  const html = `<!doctype html><html><body style="font-family:system-ui,sans-serif">
<p>Hi ${escapeHtml(name)},</p>
<p>You have received a <strong>${escapeHtml(value)}</strong> ${escapeHtml(product)} reward.</p>
<p style="font-size:1.4em;letter-spacing:.1em"><code>${escapeHtml(m.code)}</code></p>
${expiry ? `<p>${escapeHtml(expiry)}</p>` : ""}${m.message ? `<p>${escapeHtml(oneLine(m.message))}</p>` : ""}
</body></html>`;
  return { subject, text, html };
}

export function rewardSms(m: RewardMessageInput): string {
  const value = formatMoney(m.amount, m.currency);
  return oneLine(`${value} ${m.productName} reward: ${m.claimUrl ?? m.code}`).slice(0, 320);
}
