import { liabilityCsv, liabilityReport } from "../../cards/liability";
import { csvHeaders, wantsCsv } from "../../core/csv-response";
import { named } from "../../core/openapi";
import { createRouter, type AppRouteHandler } from "../../core/router";
import * as routeDefs from "./liability.routes";

const routes = named(routeDefs);

const liability: AppRouteHandler<typeof routes.liability> = async (c) => {
  const report = await liabilityReport(c.env.DB, c.var.auth.org);
  if (wantsCsv(c)) return c.body(liabilityCsv(report), 200, csvHeaders("liability.csv"));
  return c.json(report, 200);
};

export default createRouter().openapi(routes.liability, liability);
