import { listAudit as queryAudit } from "../../audit/audit.query";
import { verifyAuditChain } from "../../audit/audit.verify";
import { named } from "../../core/openapi";
import { createRouter, type AppRouteHandler } from "../../core/router";
import * as routeDefs from "./audit.routes";

const routes = named(routeDefs);

const listAudit: AppRouteHandler<typeof routes.listAudit> = async (c) => {
  const { limit, cursor, entity_id, entity_type, actor, action, from, to } = c.req.valid("query");
  const filters = { entityId: entity_id, entityType: entity_type, actor, action, from, to };
  return c.json(await queryAudit(c.env.DB, c.var.auth.org, filters, limit, cursor), 200);
};

const verifyAudit: AppRouteHandler<typeof routes.verifyAudit> = async (c) => c.json(await verifyAuditChain(c.env.DB, c.var.auth.org), 200);

export default createRouter().openapi(routes.listAudit, listAudit).openapi(routes.verifyAudit, verifyAudit);
