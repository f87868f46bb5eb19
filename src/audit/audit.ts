import { canonicalJson, sha256HexSync } from "../core/crypto";
import { newId } from "../core/ids";
import { kickDispatch, outboxRows, outboxStatement } from "../webhooks/outbox";

export interface AuditInput {
  actor: string;
  action: string;
  entityType: string;
  entityId: string;
  before?: unknown;
  after?: unknown;
  requestId?: string;
}

export interface AuditRow {
  id: string;
  org: string;
  seq: number;
  actor: string;
  action: string;
  entity_type: string;
  entity_id: string;
  before: string | null;
  after: string | null;
  request_id: string | null;
  created_at: string;
  prev_hash: string;
  hash: string;
}

export const GENESIS_HASH = "0".repeat(64);
const MAX_ATTEMPTS = 20;

/** The exact text an audit event's hash covers; verification recomputes it from the stored row. */
export function canonicalEvent(row: Omit<AuditRow, "hash" | "prev_hash">): string {
  return canonicalJson({
    id: row.id,
    org: row.org,
    seq: row.seq,
    actor: row.actor,
    action: row.action,
    entity_type: row.entity_type,
    entity_id: row.entity_id,
    before: row.before,
    after: row.after,
    request_id: row.request_id,
    created_at: row.created_at,
  });
}

export function chainHash(prevHash: string, row: Omit<AuditRow, "hash" | "prev_hash">): string {
  return sha256HexSync(`${prevHash}\n${canonicalEvent(row)}`);
}

/**
 * Appends events to the org's hash chain. The next sequence number is taken from the last row and
 * UNIQUE(org, seq) turns a concurrent writer's race into a retry, so the chain never forks.
 * `extra` statements run in the same D1 transaction as the audit insert (all or nothing), and so
 * does the webhook outbox row of every event that maps to a webhook type (src/webhooks/outbox.ts).
 * `webhooks` adds events that become outbox rows only, not audit rows: a delivery run audits one
 * settlement event (src/audit/settlement.ts) but owes subscribers one event per delivery. It is
 * called only when the org has an endpoint.
 */
export async function appendAudit(
  d1: D1Database,
  org: string,
  events: AuditInput[],
  extra: D1PreparedStatement[] = [],
  webhooks?: () => AuditInput[],
): Promise<D1Result[]> {
  if (events.length === 0) return extra.length ? d1.batch(extra) : [];
  for (let attempt = 1; ; attempt++) {
    // The chain's head, and whether the org has a webhook endpoint (enabled or not): without one, no outbox
    // rows are built (a delivery run audits ~1,000 events at a time). An endpoint enabled between this
    // read and the batch below receives events of changes committed after it, not of this one.
    const head = await d1
      .prepare(
        `SELECT (SELECT seq FROM audit_events WHERE org = ?1 ORDER BY seq DESC LIMIT 1) AS seq,
                (SELECT hash FROM audit_events WHERE org = ?1 ORDER BY seq DESC LIMIT 1) AS hash,
                EXISTS (SELECT 1 FROM webhook_endpoints WHERE org = ?1) AS hooks`,
      )
      .bind(org)
      .first<{ seq: number | null; hash: string | null; hooks: number }>();
    let prevHash = head?.hash ?? GENESIS_HASH;
    let seq = head?.seq ?? 0;
    const createdAt = new Date().toISOString();
    const rows: AuditRow[] = [];
    for (const e of events) {
      seq += 1;
      const base = {
        id: newId("aud"),
        org,
        seq,
        actor: e.actor,
        action: e.action,
        entity_type: e.entityType,
        entity_id: e.entityId,
        before: e.before === undefined ? null : canonicalJson(e.before),
        after: e.after === undefined ? null : canonicalJson(e.after),
        request_id: e.requestId ?? null,
        created_at: createdAt,
      };
      const hash = chainHash(prevHash, base);
      rows.push({ ...base, prev_hash: prevHash, hash });
      prevHash = hash;
    }
    const insert = d1
      .prepare(
        `INSERT INTO audit_events (id, org, seq, actor, action, entity_type, entity_id, before, after, request_id, created_at, prev_hash, hash)
         SELECT value ->> 'id', value ->> 'org', value ->> 'seq', value ->> 'actor', value ->> 'action', value ->> 'entity_type',
                value ->> 'entity_id', value ->> 'before', value ->> 'after', value ->> 'request_id', value ->> 'created_at',
                value ->> 'prev_hash', value ->> 'hash'
         FROM json_each(?1)`,
      )
      .bind(JSON.stringify(rows));
    const outbox = head?.hooks ? outboxStatement(d1, org, outboxRows(webhooks ? [...events, ...webhooks()] : events, createdAt)) : null;
    try {
      const results = await d1.batch(outbox ? [...extra, insert, outbox] : [...extra, insert]);
      if (outbox && (results.at(-1)?.meta.changes ?? 0) > 0) await kickDispatch(org);
      return results.slice(0, extra.length);
    } catch (err) {
      const raced = String((err as Error)?.message ?? err).includes("UNIQUE constraint failed: audit_events.org, audit_events.seq");
      if (!raced || attempt >= MAX_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
    }
  }
}
