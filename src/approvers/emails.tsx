/** Approver enrolment emails: the verification link, and the notice to the address on file when someone re-enrols. */
import type { FC } from "hono/jsx";
import type { ApprovalEmail } from "../approvals/emails";
import { utcMinute } from "../approvals/link-state";

const Body: FC<{ lines: string[]; link?: { href: string; label: string } }> = ({ lines, link }) => (
  <div style="font-family:-apple-system,Segoe UI,Roboto,Arial,sans-serif;font-size:15px;color:#111;max-width:560px">
    {lines.map((l) => (
      <p>{l}</p>
    ))}
    {link && (
      <p>
        <a href={link.href} style="display:inline-block;background:#1a56db;color:#fff;padding:12px 20px;border-radius:6px;text-decoration:none">
          {link.label}
        </a>
      </p>
    )}
  </div>
);

export async function verificationEmail(v: { sub: string; org: string; roles: string[]; link: string; expiresAt: string }): Promise<ApprovalEmail> {
  const lines = [
    `${v.sub} asked to become an approver of ${v.org} with the role${v.roles.length > 1 ? "s" : ""} ${v.roles.join(", ")}, with this address.`,
    `Confirm on the page the link opens; opening it changes nothing. The link works once and expires ${utcMinute(v.expiresAt)}.`,
    "If you did not ask for this, ignore this email: nothing changes until the link is confirmed.",
  ];
  return {
    subject: `Confirm your approver enrolment (${v.org})`,
    html: await (<Body lines={lines} link={{ href: v.link, label: "Review and confirm" }} />).toString(),
    text: [...lines, "", `Review and confirm: ${v.link}`].join("\n"),
  };
}

export async function reEnrolmentNotice(n: { sub: string; org: string; newEmail: string; roles: string[] }): Promise<ApprovalEmail> {
  const lines = [
    `Someone signed in as ${n.sub} asked to change your approver enrolment at ${n.org}: address ${n.newEmail}, role${n.roles.length > 1 ? "s" : ""} ${n.roles.join(", ")}.`,
    "Nothing changes until that address confirms. Until then approval emails keep coming here, with your current roles.",
    "If this was not you, tell your administrator: they can suspend the approver at once.",
  ];
  return {
    subject: `Your approver enrolment at ${n.org} is being changed`,
    html: await (<Body lines={lines} />).toString(),
    text: lines.join("\n"),
  };
}
