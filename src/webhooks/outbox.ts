/**
 * The transactional outbox. appendAudit (src/audit/audit.ts) adds `outboxStatement` to the D1 batch
 * of every audited state change, so an event row exists exactly when its change committed. The
 * insert is gated on the org having an endpoint (enabled or not: a disabled one keeps its events for
 * `recover`): an org without webhooks writes no row.
 * After the commit, `kickDispatch` asks the webhooks queue to fan the new rows out; if that send is
 * lost, the cron sweep (src/webhooks/sweep.ts) finds the rows still undispatched.
 */
import { env as workerEnv } from "cloudflare:workers";
import type { AuditInput } from "../audit/audit";
import { newId } from "../core/ids";
import type { Env } from "../env";
import { sendWebhookMessages } from "../queues/messages";
import { AUDIT_TO_EVENT, eventData } from "./catalogue";

export interface OutboxRow {
  id: string;
  type: string;
  entity_type: string;
  entity_id: string;
  data: string;
  created_at: string;
}

export function outboxRows(events: AuditInput[], createdAt: string): OutboxRow[] {
  const rows: OutboxRow[] = [];
  for (const e of events) {
    const type = AUDIT_TO_EVENT[e.action];
    if (!type) continue;
    rows.push({
      id: newId("evt"),
      type,
      entity_type: e.entityType,
      entity_id: e.entityId,
      data: JSON.stringify(eventData(e.entityType, e.entityId, e.after)),
      created_at: createdAt,
    });
  }
  return rows;
}

/** One INSERT for every event of the batch; writes nothing when the org has no enabled endpoint. */
export function outboxStatement(
  d1: D1Database,
  org: string,
  rows: OutboxRow[],
  /**
   * A card mirror page from `fromSeq` (rows carry their transaction's `seq`): only the rows after the
   * card's D1 trail head go in, and none unless that head is within the page, as for its trail row
   * (src/cards/README.md, D1 mirror).
   */
  cardPage?: { cardId: string; fromSeq: number },
): D1PreparedStatement | null {
  if (rows.length === 0) return null;
  const insert = `INSERT INTO webhook_events (id, org, type, entity_type, entity_id, data, created_at)
       SELECT value ->> 'id', ?2, value ->> 'type', value ->> 'entity_type', value ->> 'entity_id', value ->> 'data', value ->> 'created_at'
       FROM json_each(?1)
       WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE org = ?2)`;
  if (!cardPage) return d1.prepare(insert).bind(JSON.stringify(rows), org);
  return d1
    .prepare(
      `${insert} AND value ->> 'seq' > (SELECT COALESCE(MAX(seq), 0) FROM card_audit WHERE card_id = ?3)
         AND (SELECT COALESCE(MAX(seq), 0) FROM card_audit WHERE card_id = ?3) >= ?4 - 1`,
    )
    .bind(JSON.stringify(rows), org, cardPage.cardId, cardPage.fromSeq);
}

/** After a commit that wrote outbox rows: one message asks the consumer to fan the org's new events out. */
export async function kickDispatch(org: string): Promise<void> {
  const queue = (workerEnv as unknown as Partial<Env>).WEBHOOK_QUEUE;
  if (!queue) return;
  try {
    await sendWebhookMessages(queue, [{ type: "webhook_dispatch", org }]);
  } catch (err) {
    // The rows are committed; the sweep dispatches them within minutes.
    console.error(JSON.stringify({ msg: "webhook dispatch kick failed", org, error: String(err) }));
  }
}
