import { createRouter, type AppRouteHandler } from "../../core/router";
import { summaryReport } from "../../reports/summary";
import { summaryCsv } from "../../reports/summary.csv";
import * as routes from "./reports.routes";

const summary: AppRouteHandler<typeof routes.summary> = async (c) => {
  const report = await summaryReport(c.env.DB, c.var.auth.org, c.req.valid("query"));
  if (/\btext\/csv\b/i.test(c.req.header("accept") ?? "")) {
    return c.body(summaryCsv(report), 200, { "content-type": "text/csv; charset=utf-8", "content-disposition": 'attachment; filename="summary.csv"' });
  }
  return c.json(report, 200);
};

export default createRouter().openapi(routes.summary, summary);
