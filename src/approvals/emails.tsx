/** Approval request and rejection notice emails (HTML through hono/jsx, plus plain text). */
import type { Child, FC } from "hono/jsx";
import { campaignDayFacts, summaryFacts, type BatchSummary, type CampaignDaySummary } from "./summary";

/** How many of a day's pending rewards the email lists (the page lists up to CAMPAIGN_PAGE_REWARDS). */
const EMAIL_REWARDS = 20;

export interface ApprovalEmail {
  subject: string;
  html: string;
  text: string;
}

const cell = "padding:6px 12px 6px 0;vertical-align:top";
const Row: FC<{ label: string; value: string | number }> = ({ label, value }) => (
  <tr>
    <td style={`${cell};color:#555`}>{label}</td>
    <td style={cell}>
      <strong>{value}</strong>
    </td>
  </tr>
);

function summaryRows(s: BatchSummary): [string, string | number][] {
  return [...summaryFacts(s), ["Your step", `${s.step.number} of ${s.step.of}: ${s.step.role} approval (${s.step.quorum} needed)`]];
}

/** The request email's frame, shared by both subjects (a batch, a campaign's day): facts, what is particular to the subject, the link. */
const RequestBody: FC<{ title: string; rows: [string, string | number][]; link: string; expires: string; children?: Child }> = ({
  title,
  rows,
  link,
  expires,
  children,
}) => (
  <div style="font-family:-apple-system,Segoe UI,Roboto,Arial,sans-serif;font-size:15px;color:#111;max-width:560px">
    <h2 style="font-size:20px">{title}</h2>
    <table style="border-collapse:collapse">
      {rows.map(([l, v]) => (
        <Row label={l} value={v} />
      ))}
    </table>
    {children}
    <p>
      <a href={link} style="display:inline-block;background:#1a56db;color:#fff;padding:12px 20px;border-radius:6px;text-decoration:none">
        Review and decide
      </a>
    </p>
    <p style="color:#555;font-size:13px">
      The link works once and expires {expires}. Opening it changes nothing; you decide on the page. If you did not expect this email, ignore it.
    </p>
  </div>
);

const expiryText = (expiresAt: string) => `${expiresAt.slice(0, 16).replace("T", " ")} UTC`;

export async function approvalRequestEmail(s: BatchSummary, link: string, expiresAt: string): Promise<ApprovalEmail> {
  const expires = expiryText(expiresAt);
  const anomalies = s.anomalies.length ? s.anomalies.map((a) => `  - ${a.detail}`).join("\n") : "  none detected";
  const title = `Approval needed: ${s.name}`;
  return {
    subject: `Approval needed: ${s.name} (${s.total}, ${s.recipients} recipients)`,
    html: await (
      <RequestBody title={title} rows={summaryRows(s)} link={link} expires={expires}>
        <p>
          <strong>Anomalies:</strong> {s.anomalies.length === 0 ? "none detected" : ""}
        </p>
        {s.anomalies.length > 0 && (
          <ul>
            {s.anomalies.map((a) => (
              <li>{a.detail}</li>
            ))}
          </ul>
        )}
      </RequestBody>
    ).toString(),
    text: [
      title,
      "",
      ...summaryRows(s).map(([l, v]) => `${l}: ${v}`),
      "Anomalies:",
      anomalies,
      "",
      `Review and decide: ${link}`,
      `The link works once and expires ${expires}. Opening it changes nothing.`,
    ].join("\n"),
  };
}

/** The request email of a campaign's day: the campaign's facts and the first pending rewards (the page lists more). */
export async function campaignDayRequestEmail(s: CampaignDaySummary, link: string, expiresAt: string): Promise<ApprovalEmail> {
  const expires = expiryText(expiresAt);
  const title = `Rewards to approve: ${s.name} (${s.day})`;
  const shown = s.rewards.slice(0, EMAIL_REWARDS);
  const more = s.count - shown.length;
  const line = (r: CampaignDaySummary["rewards"][number]) => `${r.eventId}${r.side ? ` (${r.side})` : ""} · ${r.customer} · ${r.amount}`;
  return {
    subject: `${title}: ${s.count} ${s.count === 1 ? "reward" : "rewards"}, ${s.total}`,
    html: await (
      <RequestBody title={title} rows={campaignDayFacts(s)} link={link} expires={expires}>
        <p>
          <strong>Pending rewards</strong>
        </p>
        <ul>
          {shown.map((r) => (
            <li>{line(r)}</li>
          ))}
          {more > 0 && <li>and {more} more</li>}
        </ul>
      </RequestBody>
    ).toString(),
    text: [
      title,
      "",
      ...campaignDayFacts(s).map(([l, v]) => `${l}: ${v}`),
      "Pending rewards:",
      ...shown.map((r) => `  - ${line(r)}`),
      ...(more > 0 ? [`  and ${more} more`] : []),
      "",
      `Review and decide: ${link}`,
      `The link works once and expires ${expires}. Opening it changes nothing.`,
    ].join("\n"),
  };
}

export interface RejectionNotice {
  batchName: string;
  batchId: string;
  rejectedBy: string;
  step: number;
  comment: string | null;
}

export async function rejectionEmail(n: RejectionNotice): Promise<ApprovalEmail> {
  const lines = [
    `Your batch "${n.batchName}" (${n.batchId}) was rejected at approval step ${n.step} by ${n.rejectedBy}.`,
    `Comment: ${n.comment ?? "(none)"}`,
    "Its reserved funds have been released.",
  ];
  return {
    subject: `Batch rejected: ${n.batchName}`,
    html: await (
      <div style="font-family:-apple-system,Segoe UI,Roboto,Arial,sans-serif;font-size:15px;color:#111;max-width:560px">
        {lines.map((l) => (
          <p>{l}</p>
        ))}
      </div>
    ).toString(),
    text: lines.join("\n"),
  };
}
