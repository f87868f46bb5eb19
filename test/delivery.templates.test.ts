import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { formatMoney, formatMoneyCode } from "../src/core/money";
import { rewardEmail, rewardSms } from "../src/delivery/templates";
import { callJson, uniqueOrg } from "./helpers/api";
import { orgTokens } from "./helpers/batch-factories";
import { releasedBatch, waitForBatch } from "./helpers/delivery-factories";

const base = { amount: 2500, currency: "USD", productName: "Gift card", batchName: "b", code: "ABCD-1234", expiresAt: "2027-01-31T00:00:00.000Z" };

describe("reward messages", () => {
  it("neutralises HTML and header injection in recipient fields", () => {
    const m = rewardEmail({ ...base, recipientName: "</p><script>alert(1)</script>\r\nBcc: evil@example.com" });
    expect(m.html).not.toContain("<script>");
    expect(m.html).toContain("&lt;script&gt;");
    expect(m.subject).not.toMatch(/[\r\n]/);
    expect(m.text).not.toMatch(/Bcc: evil@example.com\n/);
    expect(m.text).toContain("Your code: ABCD-1234");
    expect(m.text).toContain("Valid until 2027-01-31.");
  });

  it("strips bidi overrides, zero-width and separator characters from subjects and SMS", () => {
    const t = { subject: "Hi {{name}} from {{fields.team}}", text: "{{name}}", sms: "{{name}}: {{claim_url}}" };
    const m = rewardEmail({ ...base, recipientName: "Ann\u202egpj.exe\u200b", fields: { team: "O\u2066ps\u0085\u2029x" } }, t);
    expect(m.subject).toBe("Hi Ann gpj.exe from O ps x");
    const sms = rewardSms({ ...base, recipientName: "Bo\u2068b\u200d", claimUrl: "https://x/claim/t" }, t);
    expect(sms).toBe("Bo b: https://x/claim/t");
    expect(m.subject + sms).not.toMatch(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);
  });

  it("fills an org template with name, amount, product, code, expiry and CSV fields", () => {
    const t = { subject: "{{name}}, {{amount}} for {{fields.team}}\r\n", text: "Code {{code}} ({{product}}) {{expiry}} {{unknown}}", sms: "{{claim_url}}" };
    const m = rewardEmail({ ...base, recipientName: "Ann", fields: { team: "<Ops>" } }, t);
    expect(m.subject).toBe("Ann, $25.00 for <Ops>");
    expect(m.text).toBe("Code ABCD-1234 (Gift card) Valid until 2027-01-31.");
    expect(m.html).toContain("<pre>Code ABCD-1234 (Gift card)");
    expect(rewardSms({ ...base, recipientName: null, claimUrl: "https://x/claim/t" }, t)).toBe("https://x/claim/t");
  });

  it("formats minor units by the currency's own decimals", () => {
    expect([formatMoney(2500, "USD"), formatMoney(2500, "JPY"), formatMoney(2500, "KWD"), formatMoney(2500, "EUR")]).toEqual([
      "$25.00",
      "¥2,500",
      "KWD\u00a02.500",
      "€25.00",
    ]);
    expect([formatMoneyCode(123450, "USD"), formatMoneyCode(2500, "JPY"), formatMoneyCode(-5, "KWD")]).toEqual(["USD 1,234.50", "JPY 2,500", "-KWD 0.005"]);
  });

  it("sends a delivered batch with the org's template", async () => {
    const org = uniqueOrg("tpl");
    const tokens = await orgTokens(org);
    const current = await callJson("/v1/settings", { token: tokens.admin });
    const { version, updated_by, updated_at, ...settings } = current.body;
    const put = await callJson("/v1/settings", {
      token: tokens.admin,
      method: "PUT",
      headers: { "if-match": String(version) },
      body: { ...settings, reward_template: { subject: "Thanks {{name}}: {{amount}}", text: "Here is your {{product}}: {{code}}" } },
    });
    expect(put.status).toBe(200);
    const { batchId } = await releasedBatch(org, { recipients: 2 });
    await waitForBatch(batchId, ["completed"]);
    const { results } = await env.DB.prepare('SELECT subject, text FROM dev_outbox WHERE org = ? ORDER BY "to"')
      .bind(org)
      .all<{ subject: string; text: string }>();
    expect(results.map((r) => r.subject)).toEqual([`Thanks Person 0: $25.00`, `Thanks Person 1: $25.00`]);
    expect(results[0]!.text).toMatch(/^Here is your Gift card: GIFT-/);
  });
});
