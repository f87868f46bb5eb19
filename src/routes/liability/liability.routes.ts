/** OpenAPI contract of the card liability report (API.md "Stored-value cards and redemptions"). */
import { createRoute, z } from "@hono/zod-openapi";
import { problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";

const Minor = z.number().int().openapi({ format: "int64" });
const Line = z
  .object({
    key: z.string().nullable(),
    currency: z.string(),
    cards: z.number().int(),
    issued: Minor,
    credited: Minor,
    redeemed: Minor,
    pending: Minor,
    available: Minor,
    expired: Minor.openapi({ description: "Breakage: expired value, never owed again" }),
    reversed: Minor,
    outstanding: Minor.openapi({ description: "The liability: available + pending" }),
  })
  .openapi("LiabilityLine", { description: "issued + credited = redeemed + pending + available + expired + reversed" });

export const LiabilitySchema = z
  .object({
    as_of: z.string(),
    by_currency: z.array(Line),
    by_product: z.array(Line),
    by_pool: z.array(Line),
    by_batch: z.array(Line),
    by_campaign: z.array(Line).openapi({ description: "By the batches' campaign" }),
    ageing: z
      .array(
        z.object({
          bucket: z.enum(["0-30d", "31-90d", "91-180d", "181-365d", "over-365d"]),
          currency: z.string(),
          cards: z.number().int(),
          outstanding: Minor,
        }),
      )
      .openapi({ description: "Outstanding value by the card's age (since issuance)" }),
  })
  .openapi("LiabilityReport");

export const liability = createRoute({
  method: "get",
  path: "/v1/reports/liability",
  tags: ["Reports"],
  summary: "What stored-value cards still owe, by currency, product, pool, batch and campaign, with ageing; Accept: text/csv for one line per key",
  ...protect(["finance", "auditor"]),
  request: { query: z.strictObject({}) },
  responses: {
    200: { description: "The report", content: { "application/json": { schema: LiabilitySchema }, "text/csv": { schema: z.string() } } },
    ...problems(400),
  },
});
