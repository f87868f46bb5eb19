/** The statements and audit event that resolve an exception, shared by every resolution path. */
import type { AuditInput } from "../audit/audit";
import { requireChanged } from "../core/guard";
import type { Auth } from "../env";
import type { ExceptionRecord } from "./exceptions.query";

/** The resolving statement plus its guard: nothing in the transaction is written if it was resolved meanwhile. */
export function resolveStatements(
  d1: D1Database,
  exc: Pick<ExceptionRecord, "id">,
  action: string,
  note: string | null,
  actor: string,
  at: string,
): D1PreparedStatement[] {
  return [
    d1
      .prepare(
        `UPDATE exceptions SET status = 'resolved', resolution = ?2, note = ?3, resolved_by = ?4, resolved_at = ?5, updated_at = ?5 WHERE id = ?1 AND status = 'open'`,
      )
      .bind(exc.id, action, note, actor, at),
    requireChanged(d1),
  ];
}

export function resolvedEvent(
  auth: Auth,
  exc: Pick<ExceptionRecord, "id" | "kind" | "entityId">,
  action: string,
  note: string | null,
  requestId?: string,
): AuditInput {
  return {
    actor: auth.sub,
    action: "exception.resolved",
    entityType: "exception",
    entityId: exc.id,
    requestId,
    before: { status: "open", kind: exc.kind, entity_id: exc.entityId },
    after: { status: "resolved", resolution: action, note },
  };
}
