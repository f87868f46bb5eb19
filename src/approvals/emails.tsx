/** Approval request and rejection notice emails (HTML through hono/jsx, plus plain text). */
import type { FC } from "hono/jsx";
import { summaryFacts, type BatchSummary } from "./summary";

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

const RequestBody: FC<{ s: BatchSummary; link: string; expires: string }> = ({ s, link, expires }) => (
  <div style="font-family:-apple-system,Segoe UI,Roboto,Arial,sans-serif;font-size:15px;color:#111;max-width:560px">
    <h2 style="font-size:20px">Approval needed: {s.name}</h2>
    <table style="border-collapse:collapse">
      {summaryRows(s).map(([l, v]) => (
        <Row label={l} value={v} />
      ))}
    </table>
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

export async function approvalRequestEmail(s: BatchSummary, link: string, expiresAt: string): Promise<ApprovalEmail> {
  const expires = `${expiresAt.slice(0, 16).replace("T", " ")} UTC`;
  const anomalies = s.anomalies.length ? s.anomalies.map((a) => `  - ${a.detail}`).join("\n") : "  none detected";
  return {
    subject: `Approval needed: ${s.name} (${s.total}, ${s.recipients} recipients)`,
    html: await (<RequestBody s={s} link={link} expires={expires} />).toString(),
    text: [
      `Approval needed: ${s.name}`,
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
