/**
 * The approvals data layer: reads of flows, requests and decisions, and the guarded statements
 * that decisions, step changes and exits commit together (each followed by `requireChanged`
 * where the row it touches must still be in the state the caller read).
 */
import { and, asc, eq } from "drizzle-orm";
import { requireChanged } from "../core/guard";
import { createDb } from "../db/client";
import { approvalDecisions, approvalFlows, approvalRequests } from "../db/schema";
import type { FlowStep } from "./policy";

export type FlowRow = typeof approvalFlows.$inferSelect;
export type RequestRow = typeof approvalRequests.$inferSelect;
export type DecisionRow = typeof approvalDecisions.$inferSelect;
export type FlowState = FlowRow["state"];

export const flowSteps = (flow: FlowRow): FlowStep[] => JSON.parse(flow.steps) as FlowStep[];

/** A drizzle query as a D1 statement, to commit in one `d1.batch` with others. */
export function statement(d1: D1Database, query: { toSQL(): { sql: string; params: unknown[] } }): D1PreparedStatement {
  const { sql, params } = query.toSQL();
  return d1.prepare(sql).bind(...params);
}

export async function findFlow(d1: D1Database, org: string, batchId: string): Promise<FlowRow | null> {
  const [row] = await createDb(d1)
    .select()
    .from(approvalFlows)
    .where(and(eq(approvalFlows.org, org), eq(approvalFlows.batchId, batchId)))
    .limit(1);
  return row ?? null;
}

export async function findRequest(d1: D1Database, org: string, id: string): Promise<RequestRow | null> {
  const [row] = await createDb(d1)
    .select()
    .from(approvalRequests)
    .where(and(eq(approvalRequests.org, org), eq(approvalRequests.id, id)))
    .limit(1);
  return row ?? null;
}

export function listRequests(d1: D1Database, batchId: string): Promise<RequestRow[]> {
  return createDb(d1)
    .select()
    .from(approvalRequests)
    .where(eq(approvalRequests.batchId, batchId))
    .orderBy(asc(approvalRequests.step), asc(approvalRequests.createdAt));
}

export function listDecisions(d1: D1Database, batchId: string): Promise<DecisionRow[]> {
  return createDb(d1)
    .select()
    .from(approvalDecisions)
    .where(eq(approvalDecisions.batchId, batchId))
    .orderBy(asc(approvalDecisions.createdAt), asc(approvalDecisions.id));
}

export function insertFlow(d1: D1Database, row: FlowRow): D1PreparedStatement {
  return statement(d1, createDb(d1).insert(approvalFlows).values(row));
}

export function insertRequests(d1: D1Database, rows: RequestRow[]): D1PreparedStatement {
  return statement(d1, createDb(d1).insert(approvalRequests).values(rows));
}

/**
 * Records a decision only if the approver has not decided on this batch, the flow is still open at
 * `decision.step`, and the step still has exactly `approvalsBefore` approvals (what the caller
 * planned with). Any of these changing meanwhile aborts the whole transaction.
 */
export function insertDecision(d1: D1Database, d: DecisionRow, approvalsBefore: number, requireSubmitted: boolean): D1PreparedStatement[] {
  const insert = d1
    .prepare(
      `INSERT INTO approval_decisions (id, org, batch_id, step, approver_sub, decision, comment, via, request_id, created_at)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
       WHERE NOT EXISTS (SELECT 1 FROM approval_decisions WHERE batch_id = ?3 AND approver_sub = ?5)
         AND EXISTS (SELECT 1 FROM approval_flows WHERE batch_id = ?3 AND current_step = ?4 AND state = 'open')
         AND (SELECT count(*) FROM approval_decisions WHERE batch_id = ?3 AND step = ?4 AND decision = 'approve') = ?11
         AND (?12 = 0 OR EXISTS (SELECT 1 FROM batches WHERE id = ?3 AND status = 'submitted'))`,
    )
    .bind(d.id, d.org, d.batchId, d.step, d.approverSub, d.decision, d.comment, d.via, d.requestId, d.createdAt, approvalsBefore, requireSubmitted ? 1 : 0);
  return [insert, requireChanged(d1)];
}

/** Spends a link: only a pending, unexpired request can be used, once. */
export function useRequest(d1: D1Database, id: string, now: string): D1PreparedStatement[] {
  return [
    d1.prepare("UPDATE approval_requests SET status = 'used', used_at = ?2 WHERE id = ?1 AND status = 'pending' AND expires_at > ?2").bind(id, now),
    requireChanged(d1),
  ];
}

/** Pending links of the batch (or of one approver) will say "no longer needed" from now on. */
export function supersedePending(d1: D1Database, batchId: string, approverSub?: string): D1PreparedStatement {
  return d1
    .prepare("UPDATE approval_requests SET status = 'superseded' WHERE batch_id = ?1 AND status = 'pending' AND (?2 IS NULL OR approver_sub = ?2)")
    .bind(batchId, approverSub ?? null);
}

/** Replaces one link: only a pending request is superseded, once. */
export function supersedeRequest(d1: D1Database, id: string): D1PreparedStatement[] {
  return [d1.prepare("UPDATE approval_requests SET status = 'superseded' WHERE id = ?1 AND status = 'pending'").bind(id), requireChanged(d1)];
}

export function advanceFlow(d1: D1Database, batchId: string, from: number, now: string): D1PreparedStatement[] {
  return [
    d1
      .prepare("UPDATE approval_flows SET current_step = ?2 + 1, updated_at = ?3 WHERE batch_id = ?1 AND current_step = ?2 AND state = 'open'")
      .bind(batchId, from, now),
    requireChanged(d1),
  ];
}

/** Moves the flow from one of `from` to `to`; side exits also record who caused them, for the hold release. */
export function closeFlow(d1: D1Database, batchId: string, from: FlowState[], to: FlowState, now: string, exitActor?: string): D1PreparedStatement[] {
  return [
    d1
      .prepare(
        `UPDATE approval_flows SET state = ?2, closed_at = coalesce(closed_at, ?3), exit_actor = coalesce(?4, exit_actor), updated_at = ?3
         WHERE batch_id = ?1 AND state IN (SELECT value FROM json_each(?5))`,
      )
      .bind(batchId, to, now, exitActor ?? null, JSON.stringify(from)),
    requireChanged(d1),
  ];
}

export function markOpened(d1: D1Database, id: string, now: string): D1PreparedStatement[] {
  return [d1.prepare("UPDATE approval_requests SET opened_at = ?2 WHERE id = ?1 AND opened_at IS NULL").bind(id, now), requireChanged(d1)];
}

export function recordEmailResult(
  d1: D1Database,
  id: string,
  result: { ok: true; providerMessageId: string } | { ok: false; detail: string },
): D1PreparedStatement {
  return d1
    .prepare("UPDATE approval_requests SET email_status = ?2, email_message_id = ?3, email_error = ?4 WHERE id = ?1")
    .bind(id, result.ok ? "sent" : "failed", result.ok ? result.providerMessageId : null, result.ok ? null : result.detail);
}
