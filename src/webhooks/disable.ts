/**
 * Disabling an endpoint for its receiver's sake (410 Gone, or five days of failures): audited, and
 * its owner (the admin who created it, at `owner_email`) is told by email through src/channels.
 */
import { appendAudit } from "../audit/audit";
import { sendEmail } from "../channels/email";
import { askDrain } from "./backlog";
import type { Env } from "../env";
import type { EndpointRow } from "./endpoints.service";

export async function disableEndpoint(env: Env, endpoint: EndpointRow, reason: string, now: Date): Promise<void> {
  const at = now.toISOString();
  const [res] = await appendAudit(
    env.DB,
    endpoint.org,
    [
      {
        actor: "system:webhooks",
        action: "webhook_endpoint.disabled",
        entityType: "webhook_endpoint",
        entityId: endpoint.id,
        after: { enabled: false, reason },
      },
    ],
    [
      env.DB.prepare("UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE id = ? AND enabled = 1").bind(
        reason,
        at,
        endpoint.id,
      ),
    ],
  );
  if (!res?.meta.changes) return;
  // Its backlog (backlog.ts) becomes failed messages, kept for `recover` like every event while disabled.
  await askDrain(env, endpoint.org);
  if (!endpoint.owner_email) return;
  const text =
    `Your webhook endpoint ${endpoint.id} (${endpoint.url}) was disabled: ${reason}.\n` +
    'Fix the receiver, then enable it again with PATCH /v1/webhook-endpoints/{id} {"enabled": true} and resend what it missed with POST /v1/webhook-endpoints/{id}/recover.';
  const r = await sendEmail(env, {
    org: endpoint.org,
    to: endpoint.owner_email,
    subject: "Rewardrail webhook endpoint disabled",
    text,
    html: `<p>${text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/\n/g, "<br>")}</p>`,
    idempotencyKey: `webhook-disabled:${endpoint.id}:${at}`,
  });
  if (!r.ok) console.error(JSON.stringify({ msg: "webhook disable email failed", endpoint: endpoint.id, detail: r.detail }));
}
