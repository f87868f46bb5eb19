/**
 * One audit event per delivery consumer run (`delivery.settled`) instead of one per delivery: the
 * event names every delivery the run settled with the status it left it in and the attempt it
 * recorded, and carries a digest of those attempts' rows. The chain's hash covers the event, so
 * editing what the event says breaks the chain; `verifySettlement` recomputes the digest from the
 * stored attempt rows, so editing or deleting a recorded outcome (outcome, provider message id,
 * error) breaks it too. Support's per-delivery history stays in `delivery_attempts`; webhooks still
 * get one event per delivery (appendAudit's `webhooks`).
 */
import { canonicalJson, sha256HexSync } from "../core/crypto";
import type { AuditInput } from "./audit";

export const SETTLED_ACTION = "delivery.settled";

/** One delivery of a run: id, the status the run left it in, the attempt it recorded (null when it held it before sending). */
export type SettledEntry = [deliveryId: string, status: string, attemptNo: number | null];

/** The recorded attempt as the digest sees it. */
export interface AttemptFacts {
  outcome: string;
  provider_message_id: string | null;
  error_class: string | null;
  error_detail: string | null;
}

/** The digest of a run's settled deliveries: SHA-256 over one canonical line per entry, in the event's order. */
export function settlementDigest(entries: SettledEntry[], attempt: (deliveryId: string, no: number) => AttemptFacts | undefined): string {
  const lines = entries.map(([id, status, no]) => {
    const a = no === null ? undefined : attempt(id, no);
    return canonicalJson([id, status, no, a?.outcome ?? null, a?.provider_message_id ?? null, a?.error_class ?? null, a?.error_detail ?? null]);
  });
  return sha256HexSync(lines.join("\n"));
}

/** The run's one audit event; null when it settled nothing. */
export function settlementEvent(
  owner: { batchId: string | null; campaignId: string | null },
  entries: SettledEntry[],
  attempt: (deliveryId: string, no: number) => AttemptFacts | undefined,
): AuditInput | null {
  if (entries.length === 0) return null;
  const counts: Record<string, number> = {};
  for (const [, status] of entries) counts[status] = (counts[status] ?? 0) + 1;
  return {
    actor: "system:delivery",
    action: SETTLED_ACTION,
    entityType: owner.batchId ? "batch" : "campaign",
    entityId: (owner.batchId ?? owner.campaignId)!,
    after: {
      ...(owner.batchId ? { batch_id: owner.batchId } : { campaign_id: owner.campaignId }),
      counts,
      deliveries: entries,
      digest: settlementDigest(entries, attempt),
    },
  };
}

/** Rows read per query while checking a settlement event (an event names up to ~1,000 deliveries). */
const ATTEMPT_PAGE = 500;

/**
 * Recomputes a settlement event's digest from the stored attempt rows; a detail of what no longer
 * matches, or null when the rows are as the run recorded them.
 */
export async function verifySettlement(d1: D1Database, org: string, after: string | null): Promise<string | null> {
  let parsed: { deliveries?: SettledEntry[]; digest?: string };
  try {
    parsed = JSON.parse(after ?? "null") ?? {};
  } catch {
    return "The settlement event's content is not JSON";
  }
  const entries = parsed.deliveries ?? [];
  const keys = entries.filter(([, , no]) => no !== null).map(([id, , no]) => [id, no] as const);
  const stored = new Map<string, AttemptFacts>();
  for (let i = 0; i < keys.length; i += ATTEMPT_PAGE) {
    const { results } = await d1
      .prepare(
        `SELECT a.delivery_id, a.attempt_no, a.outcome, a.provider_message_id, a.error_class, a.error_detail
         FROM json_each(?1) j JOIN delivery_attempts a ON a.delivery_id = j.value ->> 0 AND a.attempt_no = j.value ->> 1 WHERE a.org = ?2`,
      )
      .bind(JSON.stringify(keys.slice(i, i + ATTEMPT_PAGE)), org)
      .all<AttemptFacts & { delivery_id: string; attempt_no: number }>();
    for (const r of results) stored.set(`${r.delivery_id}:${r.attempt_no}`, r);
  }
  const missing = keys.find(([id, no]) => !stored.has(`${id}:${no}`));
  if (missing) return `Attempt ${missing[1]} of delivery ${missing[0]}, settled by this event, is missing`;
  if (settlementDigest(entries, (id, no) => stored.get(`${id}:${no}`)) !== parsed.digest) {
    return "The recorded attempts of the deliveries this event settled no longer match its digest";
  }
  return null;
}
