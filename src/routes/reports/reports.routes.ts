/** OpenAPI contract of the summary report (API.md "Reconciliation, reporting, audit"). */
import { createRoute, z } from "@hono/zod-openapi";
import { problems, TimeQuery } from "../../core/openapi";
import { protect } from "../../middleware/auth";

export const SummaryQuery = z
  .strictObject({
    from: TimeQuery.openapi({ description: "Window start, inclusive (ISO 8601 date or time); open when absent", example: "2026-11-01" }),
    to: TimeQuery.openapi({ description: "Window end, exclusive; open when absent", example: "2026-12-01" }),
    period: z.enum(["day", "week", "month"]).default("month").openapi({ description: "Granularity of spend by period (week: ISO 8601 week, e.g. 2026-W49)" }),
  })
  .refine((q) => !q.from || !q.to || q.from < q.to, { message: "from must be before to", path: ["to"] });

const Percentiles = z.object({ p50: z.number().int().nullable(), p95: z.number().int().nullable() });
const Spend = z.object({ key: z.string(), currency: z.string(), amount: z.number().int(), deliveries: z.number().int() });
const Redemptions = z.object({
  cards: z.number().int().openapi({ description: "Stored-value cards of deliveries created in the window (delivered or reversed now)" }),
  redeemed_cards: z.number().int().openapi({ description: "Of those, cards with at least one redemption that captured value" }),
  redemption_rate: z.number().nullable().openapi({ description: "redeemed_cards / cards" }),
  time_to_first_redemption_ms: Percentiles.extend({ samples: z.number().int() }).openapi({
    description: "First capturing redemption's created_at − the delivery's delivered_at, nearest-rank percentiles",
  }),
});

export const SummarySchema = z
  .object({
    window: z.object({ from: z.string().nullable(), to: z.string().nullable(), period: z.enum(["day", "week", "month"]) }),
    spend: z
      .object({
        total: z.array(Spend.omit({ key: true })),
        by_campaign: z.array(Spend),
        by_cost_center: z.array(Spend),
        by_pool: z.array(Spend),
        by_period: z.array(Spend),
        reversed: z
          .array(Spend.omit({ key: true }))
          .openapi({ description: "Value given back by reversals in the window (by when they happened), per currency" }),
      })
      .openapi({ description: "Value of rewards delivered (now `delivered`) in the window, by delivered_at, per currency; and what reversals gave back" }),
    delivery: z.object({
      by_channel: z.array(
        z.object({
          channel: z.string(),
          deliveries: z.number().int().openapi({ description: "Created in the window (rows replaced by a reissue left out)" }),
          reached: z.number().int().openapi({ description: "delivered or reversed" }),
          failed: z.number().int(),
          pending: z.number().int().openapi({ description: "queued, sending or held" }),
          success_rate: z.number().nullable().openapi({ description: "reached / (reached + failed)" }),
          time_to_deliver_ms: Percentiles.extend({ samples: z.number().int() }).openapi({ description: "delivered_at − created_at, nearest-rank percentiles" }),
        }),
      ),
    }),
    exceptions: z.object({
      deliveries: z.number().int(),
      deliveries_with_exception: z.number().int(),
      rate: z.number().nullable(),
      opened_by_kind: z.array(z.object({ kind: z.string(), count: z.number().int() })).openapi({ description: "Exceptions created in the window" }),
      open_by_kind: z.array(z.object({ kind: z.string(), count: z.number().int() })).openapi({ description: "Open now (window ignored)" }),
    }),
    approvals: z.object({
      by_step: z.array(z.object({ step: z.number().int(), role: z.string().nullable(), decisions: z.number().int(), latency_ms: Percentiles })),
      submitted_to_approved: z.object({ batches: z.number().int(), latency_ms: Percentiles }),
      waiting: z.object({
        batches: z.number().int().openapi({ description: "Batches submitted and not yet decided, now" }),
        oldest_submitted_at: z.string().nullable(),
        by_step: z.array(z.object({ step: z.number().int().nullable(), batches: z.number().int() })),
      }),
    }),
    redemptions: z
      .object({
        by_campaign: z.array(Redemptions.extend({ campaign: z.string().nullable().openapi({ description: "A batch's campaign, or a campaign's id" }) })),
        by_channel: z.array(Redemptions.extend({ channel: z.string().nullable() })),
      })
      .openapi({ description: "How often and how soon stored-value cards are redeemed" }),
  })
  .openapi("SummaryReport");

export const summary = createRoute({
  method: "get",
  path: "/v1/reports/summary",
  tags: ["Reports"],
  summary: "Spend, delivery success, exceptions, approval latency and card redemption; Accept: text/csv for one figure per line",
  description: "CSV columns: section, dimension, key, currency, metric, value. Cells that a spreadsheet would run as formulas are prefixed with an apostrophe.",
  ...protect(["finance", "operator", "auditor"]),
  request: { query: SummaryQuery },
  responses: {
    200: { description: "The report", content: { "application/json": { schema: SummarySchema }, "text/csv": { schema: z.string() } } },
    ...problems(400, 401, 403),
  },
});
