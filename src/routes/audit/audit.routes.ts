import { createRoute, z } from "@hono/zod-openapi";
import { json, ListQuery, page, problems, TimeQuery } from "../../core/openapi";
import { protect } from "../../middleware/auth";

const Hash = z.string().openapi({ description: "SHA-256, hex", example: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" });

export const AuditEventSchema = z
  .object({
    id: z.string().openapi({ example: "aud_01J..." }),
    seq: z.number().int().openapi({ description: "Position in the org's chain, from 1 without gaps" }),
    actor: z.string().openapi({ description: "sub of the user or client that acted" }),
    action: z.string().openapi({ example: "batch.submitted" }),
    entity_type: z.string(),
    entity_id: z.string(),
    before: z.unknown().nullable().openapi({ description: "The entity before the change (parsed JSON), or null" }),
    after: z.unknown().nullable().openapi({ description: "The entity after the change (parsed JSON), or null" }),
    request_id: z.string().nullable(),
    created_at: z.string().openapi({ format: "date-time" }),
    prev_hash: Hash.openapi({ description: "hash of the previous event (64 zeros for seq 1)" }),
    hash: Hash.openapi({ description: 'SHA-256 of prev_hash + "\\n" + the canonical event' }),
  })
  .openapi("AuditEvent");

export const AuditQuery = ListQuery.extend({
  entity_id: z.string().min(1).max(64).optional().openapi({ description: "Only events about this entity" }),
  entity_type: z.string().min(1).max(64).optional().openapi({ description: "Only events about this kind of entity" }),
  actor: z.string().min(1).max(256).optional().openapi({ description: "Only events by this sub" }),
  action: z.string().min(1).max(128).optional().openapi({ description: "Only events with this action" }),
  from: TimeQuery.openapi({ description: "Events created at or after this ISO 8601 time", example: "2026-01-01T00:00:00Z" }),
  to: TimeQuery.openapi({ description: "Events created before this ISO 8601 time (exclusive)", example: "2026-02-01T00:00:00Z" }),
}).strict();

export const listAudit = createRoute({
  method: "get",
  path: "/v1/audit",
  tags: ["Audit"],
  summary: "The org's audit events, newest first",
  description: "Hash-chained, append-only events of every state change. Unknown query parameters are refused.",
  ...protect(["auditor", "admin"]),
  request: { query: AuditQuery },
  responses: { 200: json(page(AuditEventSchema).openapi("AuditEventPage"), "A page of events"), ...problems(400, 401, 403) },
});

export const ChainBreakSchema = z
  .object({
    seq: z.number().int().openapi({ description: "seq of the first event that does not continue the chain" }),
    event_id: z.string(),
    reason: z.enum(["seq_gap", "prev_hash_mismatch", "hash_mismatch", "digest_mismatch"]).openapi({
      description:
        "seq_gap: seq is not previous + 1 (an earlier event was deleted); prev_hash_mismatch: prev_hash is not the previous event's hash (events reordered or replaced); hash_mismatch: the event's content was changed; digest_mismatch: a delivery run's delivery.settled event no longer matches the delivery attempts it recorded (an outcome was edited or deleted)",
    }),
    detail: z.string(),
  })
  .openapi("AuditChainBreak");

export const VerifySchema = z
  .object({
    valid: z.boolean(),
    events_checked: z.number().int().openapi({ description: "Events examined, including the one at first_break" }),
    last_seq: z.number().int().nullable().openapi({ description: "seq of the last event verified intact (null: none)" }),
    last_hash: Hash.nullable().openapi({ description: "hash of that event: keep it elsewhere to detect later truncation" }),
    first_break: ChainBreakSchema.nullable(),
  })
  .openapi("AuditVerification");

export const verifyAudit = createRoute({
  method: "get",
  path: "/v1/audit/verify",
  tags: ["Audit"],
  summary: "Recompute the org's audit chain and report the first break",
  ...protect(["auditor"]),
  responses: { 200: json(VerifySchema, "The verification result"), ...problems(401, 403) },
});
