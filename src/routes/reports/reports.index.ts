import { named } from "../../core/openapi";
import { createRouter, type AppRouteHandler } from "../../core/router";
import { summaryReport } from "../../reports/summary";
import { summaryCsv } from "../../reports/summary.csv";
import * as routeDefs from "./reports.routes";
import { csvHeaders, wantsCsv } from "../../core/csv-response";

const routes = named(routeDefs);

const summary: AppRouteHandler<typeof routes.summary> = async (c) => {
  const report = await summaryReport(c.env.DB, c.var.auth.org, c.req.valid("query"));
  if (wantsCsv(c)) {
    return c.body(summaryCsv(report), 200, csvHeaders("summary.csv"));
  }
  return c.json(report, 200);
};

export default createRouter().openapi(routes.summary, summary);
