/** OpenAPI contracts of reconciliation runs (API.md "Reconciliation, reporting, audit"). */
import { createRoute, z } from "@hono/zod-openapi";
import { IdParam, IdempotencyHeader, ListQuery, json, page, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";
import { FINDING_KINDS } from "../../reconciliation/types";

const tags = ["Reconciliation"];
const Time = z.string().openapi({ format: "date-time" });
const Money = z.number().int().openapi({ description: "Minor units of `currency`" });

const TotalsSchema = z
  .object({
    currency: z.string().openapi({ example: "USD" }),
    planned: Money.openapi({
      description: "Valid totals of batches submitted or further (side exits excluded), plus campaign rewards (a reissued reward once)",
    }),
    reserved: Money.openapi({ description: "Held by pending holds, per the pool DOs" }),
    committed: Money.openapi({ description: "Committed to recipients, per the pool DOs" }),
    delivered: Money.openapi({ description: "Deliveries delivered, of batches and campaigns" }),
    failed: Money.openapi({ description: "Deliveries failed" }),
    reversed: Money.openapi({ description: "Deliveries reversed" }),
  })
  .openapi("ReconciliationTotals");

const PhaseStats = z.object({ steps: z.number().int(), rows: z.number().int(), ms: z.number().int() });

export const RunSchema = z
  .object({
    id: z.string().openapi({ example: "rec_01jd3x..." }),
    status: z.enum(["running", "completed", "failed", "abandoned"]).openapi({ description: "abandoned: no progress for 5 minutes; a newer run redid it" }),
    trigger: z.enum(["manual", "cron"]),
    requested_by: z.string(),
    phase: z.string().openapi({ description: "ledger, batches, deliveries, inventory, finalize, done" }),
    started_at: Time,
    updated_at: Time,
    completed_at: Time.nullable(),
    duration_ms: z.number().int().nullable(),
    totals: z.array(TotalsSchema).openapi({ description: "One entry per currency" }),
    findings: z.object({
      total: z.number().int(),
      by_kind: z.record(z.string(), z.number().int()),
      by_severity: z.record(z.string(), z.number().int()),
    }),
    progress: z
      .object({
        steps: z.number().int(),
        rows_scanned: z.number().int(),
        invocations: z.number().int().openapi({ description: "Worker invocations (request, queue messages) that advanced the run" }),
        max_rows_per_step: z.number().int(),
        max_step_ms: z.number().int(),
        phases: z.record(z.string(), PhaseStats),
      })
      .openapi({ description: "How the work was paged: each step reads one bounded page" }),
    error: z.string().nullable(),
  })
  .openapi("ReconciliationRun");

export const FindingSchema = z
  .object({
    id: z.string().openapi({ example: "fnd_01jd3x..." }),
    kind: z.enum(FINDING_KINDS),
    severity: z.enum(["low", "medium", "high"]),
    entity_type: z.string().openapi({ description: "pool, batch, hold, delivery, recipient, card, inventory_code, product" }),
    entity_id: z.string(),
    batch_id: z.string().nullable(),
    pool_id: z.string().nullable(),
    currency: z.string().nullable(),
    expected: z.number().int().nullable().openapi({ description: "What the authoritative side says (the pool DO, or what should be)" }),
    actual: z.number().int().nullable().openapi({ description: "What the other side says" }),
    difference: z.number().int().nullable().openapi({ description: "actual − expected" }),
    detail: z.string(),
    data: z.record(z.string(), z.unknown()),
    exception_id: z.string().nullable().openapi({ description: "The exception that tracks this problem (open, or resolved and still accepted)" }),
    fingerprint: z.string().openapi({ description: "SHA-256 of the facts; the same facts in a later run keep a resolved exception resolved" }),
    created_at: Time,
  })
  .openapi("ReconciliationFinding");

const RunListQuery = ListQuery.extend({
  status: z.enum(["running", "completed", "failed", "abandoned"]).optional(),
  trigger: z.enum(["manual", "cron"]).optional(),
}).strict();

const FindingQuery = ListQuery.extend({
  kind: z.enum(FINDING_KINDS).optional(),
  severity: z.enum(["low", "medium", "high"]).optional(),
}).strict();

export const createRun = createRoute({
  method: "post",
  path: "/v1/reconciliations",
  tags,
  summary: "Reconcile the org now",
  description:
    "Starts a run (or joins the one in progress: one run per org at a time) and works on it within this request. " +
    "201: the run completed here. 202: it continues in the background (queue); poll GET /v1/reconciliations/{id}. " +
    "Each finding opens or updates an exception (GET /v1/exceptions). The cron runs the same reconciliation hourly.",
  ...protect(["finance"]),
  request: { headers: IdempotencyHeader },
  responses: {
    201: json(RunSchema, "The completed run"),
    202: json(RunSchema, "The run, still running"),
    ...problems(401, 403, 409, 422),
  },
});

export const listRuns = createRoute({
  method: "get",
  path: "/v1/reconciliations",
  tags,
  summary: "Reconciliation runs with their summary, newest first",
  ...protect(["finance", "auditor"]),
  request: { query: RunListQuery },
  responses: { 200: json(page(RunSchema).openapi("ReconciliationRunPage"), "Runs"), ...problems(400, 401, 403) },
});

export const getRun = createRoute({
  method: "get",
  path: "/v1/reconciliations/{id}",
  tags,
  summary: "A run and its findings; Accept: text/csv exports every finding",
  description: "CSV cells that a spreadsheet would run as formulas (starting with = + - @, tab, CR) are prefixed with an apostrophe.",
  ...protect(["finance", "auditor"]),
  request: { params: IdParam("rec"), query: FindingQuery },
  responses: {
    200: {
      description:
        "The run (its fields at the top level, as POST answers them, and again under `run`) and a page of findings in `data` (JSON), or all matching findings (CSV)",
      content: {
        "application/json": { schema: RunSchema.extend(page(FindingSchema).shape).extend({ run: RunSchema }).openapi("ReconciliationRunFindings") },
        "text/csv": { schema: z.string() },
      },
    },
    ...problems(400, 401, 403, 404),
  },
});
