import { named } from "../../core/openapi";
import { createRouter, type AppRouteHandler } from "../../core/router";
import { batchDeliveries as batchPage } from "../../support/batch-deliveries";
import { deliveryPage } from "../../support/deliveries.query";
import { deliveryDetail } from "../../support/delivery-detail";
import { deliveryView } from "../../support/delivery-views";
import { reissueDelivery as reissue } from "../../support/reissue";
import { resendDelivery as resend } from "../../support/resend";
import { reverseDelivery as reverse } from "../../support/reverse";
import * as routeDefs from "./deliveries.routes";
import { csvHeaders, wantsCsv } from "../../core/csv-response";

const routes = named(routeDefs);

const listDeliveries: AppRouteHandler<typeof routes.listDeliveries> = async (c) => {
  const { limit, cursor, ...filter } = c.req.valid("query");
  const page = await deliveryPage(c.env.DB, c.var.auth.org, filter, limit, cursor);
  return c.json({ data: page.rows.map(deliveryView), next_cursor: page.next_cursor }, 200);
};

const getDelivery: AppRouteHandler<typeof routes.getDelivery> = async (c) => c.json(await deliveryDetail(c.env, c.var.auth, c.req.valid("param").id), 200);

const batchDeliveries: AppRouteHandler<typeof routes.batchDeliveries> = async (c) => {
  const csv = wantsCsv(c);
  const result = await batchPage(c.env.DB, c.var.auth.org, c.req.valid("param").id, c.req.valid("query"), csv);
  if (result.csv) {
    return c.body(result.csv, 200, csvHeaders(result.filename));
  }
  return c.json(result.page, 200);
};

const resendDelivery: AppRouteHandler<typeof routes.resendDelivery> = async (c) =>
  c.json(await resend(c.env, c.var.auth, c.req.valid("param").id, c.req.valid("json")?.reason ?? "", c.var.requestId), 200);

const reissueDelivery: AppRouteHandler<typeof routes.reissueDelivery> = async (c) => {
  const result = await reissue(c.env, c.var.auth, c.req.valid("param").id, c.req.valid("json")?.reason ?? "", c.var.requestId);
  if (result.status === 202) return c.json({ status: "approval_required" as const, approval: result.approval, delivery: result.delivery }, 202);
  return c.json({ delivery: result.delivery, reissue_of: result.reissue_of }, 201, { location: `/v1/deliveries/${result.delivery.id}` });
};

const reverseDelivery: AppRouteHandler<typeof routes.reverseDelivery> = async (c) =>
  c.json(await reverse(c.env, c.var.auth, c.req.valid("param").id, c.req.valid("json")?.reason ?? "", c.var.requestId), 200);

export default createRouter()
  .openapi(routes.listDeliveries, listDeliveries)
  .openapi(routes.getDelivery, getDelivery)
  .openapi(routes.batchDeliveries, batchDeliveries)
  .openapi(routes.resendDelivery, resendDelivery)
  .openapi(routes.reissueDelivery, reissueDelivery)
  .openapi(routes.reverseDelivery, reverseDelivery);
