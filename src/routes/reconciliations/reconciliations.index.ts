import { named } from "../../core/openapi";
import { createRouter, expectNoBody, type AppRouteHandler } from "../../core/router";
import { findingsCsv } from "../../reconciliation/findings.read";
import * as recon from "../../reconciliation/reconciliations.service";
import * as routeDefs from "./reconciliations.routes";
import { csvHeaders, wantsCsv } from "../../core/csv-response";

const routes = named(routeDefs);

const createRun: AppRouteHandler<typeof routes.createRun> = async (c) => {
  await expectNoBody(c);
  const { run, completed } = await recon.requestReconciliation(c.env, c.var.auth, c.var.requestId);
  return c.json(run, completed ? 201 : 202, { location: `/v1/reconciliations/${run.id}` });
};

const listRuns: AppRouteHandler<typeof routes.listRuns> = async (c) => c.json(await recon.listRuns(c.env.DB, c.var.auth.org, c.req.valid("query")), 200);

const getRun: AppRouteHandler<typeof routes.getRun> = async (c) => {
  const { id } = c.req.valid("param");
  const query = c.req.valid("query");
  if (wantsCsv(c)) {
    const run = await recon.requireRun(c.env.DB, c.var.auth.org, id);
    const csv = findingsCsv(c.env.DB, run.id, { kind: query.kind, severity: query.severity });
    return c.body(csv, 200, csvHeaders(`${run.id}-findings.csv`));
  }
  return c.json(await recon.runWithFindings(c.env.DB, c.var.auth.org, id, query), 200);
};

export default createRouter().openapi(routes.createRun, createRun).openapi(routes.listRuns, listRuns).openapi(routes.getRun, getRun);
