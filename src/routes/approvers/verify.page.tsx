/** The approver verification pages (hono/jsx), in the approval pages' layout: no scripts, one form. */
import type { FC } from "hono/jsx";
import { utcMinute } from "../../approvals/link-state";
import type { VerifyPage, VerifyResult } from "../../approvers/verify";
import type { ErrorCode } from "../../core/errors";
import { Layout } from "../approvals/pages";

const facts = (p: VerifyPage): [string, string][] => [
  ["Organisation", p.org],
  ["Approver", p.sub],
  ["Email", p.email],
  ["Roles", p.roles.join(", ")],
];

export const ConfirmPage: FC<{ page: VerifyPage }> = ({ page }) => (
  <Layout title="Confirm your approver enrolment">
    <h1>Confirm your approver enrolment?</h1>
    <div class="card">
      <dl id="enrolment">{facts(page).map(([k, v]) => [<dt>{k}</dt>, <dd>{v}</dd>])}</dl>
    </div>
    <form method="post" class="card">
      <p class="muted">Approval emails for these roles will come to this address. If you did not ask for this, close this page: nothing changes.</p>
      <div class="actions">
        <button type="submit" class="approve">
          Confirm
        </button>
      </div>
    </form>
    <p class="muted">This link works once and expires {utcMinute(page.expiresAt)}.</p>
  </Layout>
);

export const ConfirmedPage: FC<{ result: VerifyResult }> = ({ result }) => (
  <Layout title="Enrolment confirmed">
    <h1 id="outcome">Enrolment confirmed</h1>
    <div class="card">
      <p>
        {result.sub} is an approver of {result.org} ({result.roles.join(", ")}); approval emails go to {result.email}.
      </p>
      {result.status === "suspended" && <p class="warn">An administrator has suspended this approver: no approval links are sent until they reinstate it.</p>}
      <p class="muted">You can close this page.</p>
    </div>
  </Layout>
);

const TITLES: Partial<Record<ErrorCode, string>> = {
  verification_link_invalid: "This link is not valid",
  verification_link_expired: "This link has expired",
  verification_link_used: "This link has already been used",
  verification_link_superseded: "This link is no longer valid",
};

export const VerifyErrorPage: FC<{ code: ErrorCode; detail: string }> = ({ code, detail }) => (
  <Layout title={TITLES[code] ?? "Something went wrong"}>
    <h1 id="outcome">{TITLES[code] ?? "Something went wrong"}</h1>
    <div class="card">
      <p>{detail}</p>
      <p class="muted">Nothing was changed.</p>
    </div>
  </Layout>
);
