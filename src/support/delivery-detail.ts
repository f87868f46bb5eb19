/**
 * "What happened to this recipient's reward?" in one call: the delivery, every attempt, the
 * deliveries that replaced it or that it replaced, its exceptions and, for the `link` channel, the
 * claim URL (the deliverable itself, so only for roles that distribute it).
 */
import { notFound } from "../core/errors";
import { claimUrl } from "../delivery/claim-links";
import type { Auth, Env, Role } from "../env";
import { deliveryRows } from "./deliveries.query";
import { attemptView, deliveryView, type AttemptRow, type DeliveryListRow } from "./delivery-views";

/** Roles that hand claim links to recipients; support and auditors never see one. */
const LINK_ROLES: readonly Role[] = ["operator", "integrator"];

interface LinkedRow {
  id: string;
  status: DeliveryListRow["status"];
  created_at: string;
}
interface ExceptionRow {
  id: string;
  kind: string;
  status: "open" | "resolved";
  detail: string;
  resolution: string | null;
  created_at: string;
  resolved_at: string | null;
}

export async function deliveryDetail(env: Env, auth: Auth, id: string) {
  const [row] = await deliveryRows(env.DB, auth.org, { id }, 1);
  if (!row) throw notFound("delivery", id);
  const [attempts, linked, exceptions, card] = await env.DB.batch<Record<string, unknown>>([
    env.DB.prepare(
      `SELECT attempt_no, kind, channel, outcome, provider_message_id, error_class, error_detail, actor, created_at, completed_at
       FROM delivery_attempts WHERE delivery_id = ? AND org = ? ORDER BY attempt_no`,
    ).bind(id, auth.org),
    env.DB.prepare("SELECT id, status, created_at FROM deliveries WHERE reissue_of = ? AND org = ? ORDER BY id").bind(id, auth.org),
    env.DB.prepare("SELECT id, kind, status, detail, resolution, created_at, resolved_at FROM exceptions WHERE org = ? AND entity_id = ? ORDER BY id").bind(
      auth.org,
      id,
    ),
    env.DB.prepare("SELECT c.expires_at FROM cards c JOIN deliveries d ON d.card_id = c.id WHERE d.id = ?").bind(id),
  ]);
  const showLink = row.channel === "link" && row.status === "delivered" && auth.roles.some((r) => LINK_ROLES.includes(r));
  const expiresAt = (card!.results[0]?.expires_at as string | null | undefined) ?? null;
  return {
    ...deliveryView(row),
    attempts: (attempts!.results as unknown as AttemptRow[]).map(attemptView),
    reissues: linked!.results as unknown as LinkedRow[],
    exceptions: exceptions!.results as unknown as ExceptionRow[],
    claim_url: showLink ? await claimUrl(env, auth.org, id, expiresAt) : null,
  };
}
export type DeliveryDetail = Awaited<ReturnType<typeof deliveryDetail>>;
