/** The recipient's claim page (hono/jsx): the code large and selectable, no scripts, nothing external. */
import type { Child, FC } from "hono/jsx";
import { formatMoney } from "../../core/money";
import type { ClaimView } from "../../support/claim";

const CSS = `
*{box-sizing:border-box}body{margin:0;font:16px/1.5 -apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#111;background:#f5f6f8}
main{max-width:560px;margin:0 auto;padding:24px 16px}h1{font-size:1.4rem;margin:.2em 0 .6em}
.card{background:#fff;border-radius:10px;padding:20px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.code{font:700 1.5rem/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;letter-spacing:.08em;padding:14px;border:2px dashed #1a56db;border-radius:8px;text-align:center;overflow-wrap:anywhere;user-select:all}
.muted{color:#555;font-size:.9rem}
`;

const Layout: FC<{ title: string; children?: Child }> = ({ title, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="robots" content="noindex, nofollow" />
      <title>{title}</title>
      <style dangerouslySetInnerHTML={{ __html: CSS }} />
    </head>
    <body>
      <main>{children}</main>
    </body>
  </html>
);

export const ClaimPage: FC<{ claim: ClaimView }> = ({ claim }) => (
  <Layout title="Your reward">
    <h1>
      Your {formatMoney(claim.amount, claim.currency)} {claim.productName} reward
    </h1>
    <div class="card">
      <p>Your code:</p>
      <p class="code">{claim.code}</p>
      <p class="muted">{claim.expiresAt ? `Valid until ${claim.expiresAt.slice(0, 10)}.` : "This code does not expire."}</p>
      {claim.card ? <CardBalance claim={claim} card={claim.card} /> : null}
      <p class="muted">Keep this code private: anyone who has it can use it.</p>
    </div>
  </Layout>
);

const STATUS_TEXT: Record<string, string> = {
  frozen: "This card is frozen for now; contact the sender.",
  expired: "This card has expired.",
  reversed: "This card is no longer valid.",
  exhausted: "This card has been used up.",
};

const CardBalance: FC<{ claim: ClaimView; card: NonNullable<ClaimView["card"]> }> = ({ claim, card }) => (
  <>
    <p class="balance">
      Balance: <strong>{formatMoney(card.available, claim.currency)}</strong>
      {card.pending > 0 ? ` (${formatMoney(card.pending, claim.currency)} on hold for a purchase)` : ""}
    </p>
    {STATUS_TEXT[card.status] ? <p class="muted">{STATUS_TEXT[card.status]}</p> : null}
    <ul class="muted">
      {card.expiries.map((e) => (
        <li>
          {formatMoney(e.amount, claim.currency)} {e.expiresAt ? `valid until ${e.expiresAt.slice(0, 10)}` : "does not expire"}
        </li>
      ))}
    </ul>
  </>
);

export const ClaimNotFoundPage: FC = () => (
  <Layout title="Not found">
    <h1>This link is not valid</h1>
    <p class="muted">It may have expired or been replaced. If you expected a reward, contact whoever sent it.</p>
  </Layout>
);
