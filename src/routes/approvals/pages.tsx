/** The approval link pages (hono/jsx): readable on a phone, no scripts, one form. */
import type { Child, FC } from "hono/jsx";
import type { CampaignLinkPage, CampaignLinkResult } from "../../approvals/campaign-links";
import type { LinkPage, LinkResult } from "../../approvals/links";
import type { RenewResult } from "../../approvals/resend";
import { utcMinute } from "../../approvals/link-state";
import { campaignDayFacts, summaryFacts } from "../../approvals/summary";
import type { ErrorCode } from "../../core/errors";

const CSS = `
*{box-sizing:border-box}body{margin:0;font:16px/1.5 -apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#111;background:#f5f6f8}
main{max-width:640px;margin:0 auto;padding:20px 16px}h1{font-size:1.4rem;margin:.2em 0 .4em}.card{background:#fff;border-radius:10px;padding:16px;margin:12px 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
dl{display:grid;grid-template-columns:minmax(110px,40%) 1fr;gap:6px 12px;margin:0}dt{color:#555}dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.muted{color:#555;font-size:.9rem}.warn{color:#8a4b00}ul{padding-left:1.2em;margin:.3em 0}
label{display:block;font-weight:600;margin-bottom:4px}textarea{width:100%;font:inherit;padding:8px;border:1px solid #bbb;border-radius:6px}
.actions{display:flex;gap:12px;margin-top:12px}button{flex:1;font:inherit;font-weight:700;padding:14px;border:0;border-radius:8px;color:#fff;cursor:pointer}
.approve{background:#0b7a3e}.reject{background:#b42318}.renew{background:#1f4fbf}
`;

export const Layout: FC<{ title: string; children?: Child }> = ({ title, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="robots" content="noindex, nofollow" />
      <title>{title} · Rewardrail</title>
      <style dangerouslySetInnerHTML={{ __html: CSS }} />
    </head>
    <body>
      <main>{children}</main>
    </body>
  </html>
);

export const ApprovalPage: FC<{ page: LinkPage }> = ({ page }) => {
  const s = page.summary;
  const rows: [string, string | number][] = [
    ...summaryFacts(s),
    ["Expected delivery", s.expectedDeliveryDate],
    ["Release", s.releaseAt ? `scheduled for ${utcMinute(s.releaseAt)}` : "on final approval"],
  ];
  return (
    <Layout title={`Approve ${s.name}?`}>
      <h1>Approve this batch?</h1>
      <p class="muted" id="step">
        Step {s.step.number} of {s.step.of}: {s.step.role} approval, {s.step.quorum} {s.step.quorum === 1 ? "approval" : "approvals"} needed
      </p>
      <div class="card">
        <dl id="summary">{rows.map(([k, v]) => [<dt>{k}</dt>, <dd>{v}</dd>])}</dl>
        {(s.invalid > 0 || s.excluded > 0) && (
          <p class="muted">
            Not paid: {s.invalid} invalid and {s.excluded} excluded rows.
          </p>
        )}
      </div>
      <div class="card" id="anomalies">
        <strong>Anomalies</strong>
        {s.anomalies.length === 0 ? (
          <p class="muted">None detected.</p>
        ) : (
          <ul class="warn">
            {s.anomalies.map((a) => (
              <li>{a.detail}</li>
            ))}
          </ul>
        )}
      </div>
      <DecisionCard approver={page.approver} expiresAt={page.expiresAt} />
    </Layout>
  );
};

/** The Approve / Reject form of both subjects' pages; `fingerprint` posts back what the page showed (a campaign day's list). */
const DecisionCard: FC<{ approver: string; expiresAt: string; fingerprint?: string }> = ({ approver, expiresAt, fingerprint }) => (
  <>
    <form method="post" class="card">
      {fingerprint !== undefined && <input type="hidden" name="fingerprint" value={fingerprint} />}
      <label for="comment">Comment (optional)</label>
      <textarea id="comment" name="comment" rows={3} maxlength={2000} />
      <div class="actions">
        <button type="submit" name="decision" value="approve" class="approve">
          Approve
        </button>
        <button type="submit" name="decision" value="reject" class="reject">
          Reject
        </button>
      </div>
    </form>
    <p class="muted">
      This link is for {approver}. It works once and expires {utcMinute(expiresAt)}.
    </p>
  </>
);

/** A campaign's day: the campaign, the day's count and total, and the pending rewards (the first CAMPAIGN_PAGE_REWARDS, then "and N more"). */
export const CampaignDayPage: FC<{ page: CampaignLinkPage }> = ({ page }) => {
  const s = page.summary;
  const more = s.count - s.rewards.length;
  return (
    <Layout title={`Approve rewards of ${s.name}?`}>
      <h1>Approve these rewards?</h1>
      <p class="muted" id="step">
        Step {s.step.number} of {s.step.of}: {s.step.role} approval, {s.step.quorum} {s.step.quorum === 1 ? "approval" : "approvals"} needed ({s.step.approvals}{" "}
        so far)
      </p>
      <div class="card">
        <dl id="summary">{campaignDayFacts(s).map(([k, v]) => [<dt>{k}</dt>, <dd>{v}</dd>])}</dl>
      </div>
      <div class="card" id="rewards">
        <strong>Pending rewards</strong>
        <ul>
          {s.rewards.map((r) => (
            <li>
              {r.eventId}
              {r.side ? ` (${r.side})` : ""} · {r.customer} · <strong>{r.amount}</strong>
            </li>
          ))}
          {more > 0 && <li class="muted">and {more} more</li>}
        </ul>
        <p class="muted">Your decision covers every reward listed here. If more arrive before you decide, the page asks you to look again.</p>
      </div>
      <DecisionCard approver={page.approver} expiresAt={page.expiresAt} fingerprint={s.fingerprint} />
    </Layout>
  );
};

export function campaignResultText(r: CampaignLinkResult): { title: string; text: string } {
  switch (r.outcome) {
    case "rejected":
      return {
        title: "Rewards rejected",
        text: `You rejected ${r.rewards} rewards of "${r.campaignName}" (${r.day}, ${r.total}). Their value went back to the campaign's budget.`,
      };
    case "approved":
      return {
        title: "Rewards approved",
        text: `Your approval completed the last step (${r.step} of ${r.steps}). ${r.rewards} rewards of "${r.campaignName}" (${r.day}, ${r.total}) are on their way.`,
      };
    case "step_completed":
      return {
        title: "Approved",
        text: `Your approval completed step ${r.step} of ${r.steps} for "${r.campaignName}" (${r.day}). The next approvers have been asked.`,
      };
    default:
      return {
        title: "Approval recorded",
        text: `Step ${r.step} for "${r.campaignName}" (${r.day}) has ${r.approvals} of ${r.quorum} approvals; it completes when the others approve.`,
      };
  }
}

export function resultText(r: LinkResult): { title: string; text: string } {
  switch (r.outcome) {
    case "rejected":
      return { title: "Batch rejected", text: `You rejected "${r.batchName}". Its reserved funds are released and its creator is told.` };
    case "approved":
      return { title: "Batch approved", text: `Your approval completed the last step (${r.step} of ${r.steps}). "${r.batchName}" is approved.` };
    case "step_completed":
      return { title: "Approved", text: `Your approval completed step ${r.step} of ${r.steps} of "${r.batchName}". The next approvers have been asked.` };
    default:
      return {
        title: "Approval recorded",
        text: `Step ${r.step} of "${r.batchName}" has ${r.approvals} of ${r.quorum} approvals; it completes when the others approve.`,
      };
  }
}

export const ResultPage: FC<{ title: string; text: string }> = ({ title, text }) => {
  return (
    <Layout title={title}>
      <h1 id="outcome">{title}</h1>
      <div class="card">
        <p>{text}</p>
        <p class="muted">Thank you. You can close this page.</p>
      </div>
    </Layout>
  );
};

const ERROR_TITLES: Partial<Record<ErrorCode, string>> = {
  approval_link_invalid: "This link is not valid",
  approval_link_expired: "This link has expired",
  approval_link_used: "This link has already been used",
  approval_link_superseded: "This link is no longer needed",
  approval_link_active: "This link still works",
  batch_changed: "The batch has changed",
  rewards_changed: "The rewards have changed",
  self_approval_forbidden: "You cannot decide on your own batch or campaign",
  not_an_approver: "You are not an approver for this step",
  already_decided: "You have already decided",
  validation_failed: "Choose Approve or Reject",
  invalid_state_transition: "This no longer awaits approval",
};

export const RenewedPage: FC<{ result: RenewResult }> = ({ result }) => (
  <Layout title={result.emailed ? "New link sent" : "The email could not be sent"}>
    <h1 id="outcome">{result.emailed ? "A new link is on its way" : "The email could not be sent"}</h1>
    <div class="card">
      {result.emailed ? (
        <p>
          We emailed a new approval link for "{result.batchName}" to {result.sentTo}. It works once and expires {utcMinute(result.expiresAt)}. This old link no
          longer works.
        </p>
      ) : (
        <p>
          A new link for "{result.batchName}" was made, but the email to {result.sentTo} failed. Ask the person who submitted the batch to re-send the approval
          links.
        </p>
      )}
      <p class="muted">You can close this page.</p>
    </div>
  </Layout>
);

export const ErrorPage: FC<{ code: ErrorCode; detail: string; renewAction?: string }> = ({ code, detail, renewAction }) => {
  const title = ERROR_TITLES[code] ?? "Something went wrong";
  return (
    <Layout title={title}>
      <h1 id="outcome">{title}</h1>
      <div class="card">
        <p>{detail}</p>
        {renewAction ? (
          <form method="post" action={renewAction} id="renew">
            <p class="muted">The new link goes to your email address on file, not to this page.</p>
            <div class="actions">
              <button type="submit" class="renew">
                Email me a new link
              </button>
            </div>
          </form>
        ) : (
          <p class="muted">
            Nothing was changed. If you need a new link, ask the person who submitted the batch to re-send the approval links; for a campaign's rewards, a new
            round of links goes out when new rewards arrive or a step completes.
          </p>
        )}
      </div>
    </Layout>
  );
};
