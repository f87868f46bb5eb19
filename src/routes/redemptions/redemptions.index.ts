import * as redemptions from "../../cards/redemptions.service";
import { named } from "../../core/openapi";
import { createRouter, expectNoBody, type AppRouteHandler } from "../../core/router";
import * as routeDefs from "./redemptions.routes";

const routes = named(routeDefs);

const redeem: AppRouteHandler<typeof routes.redeem> = async (c) => {
  const r = await redemptions.redeem(c.env, c.var.auth, c.req.valid("json"), c.req.valid("header")["idempotency-key"]);
  return c.json(r, 201, { location: `/v1/redemptions?card_id=${r.card_id}&reference=${encodeURIComponent(r.reference)}` });
};

const listRedemptions: AppRouteHandler<typeof routes.listRedemptions> = async (c) => {
  const { limit, cursor, ...filter } = c.req.valid("query");
  return c.json(await redemptions.listRedemptions(c.env, c.var.auth.org, filter, limit, cursor), 200);
};

const settle =
  (kind: "capture" | "refund"): AppRouteHandler<typeof routes.captureRedemption> =>
  async (c) => {
    const body = (c.req.valid("json") ?? {}) as { amount?: number };
    return c.json(await redemptions.settle(c.env, c.var.auth, kind, c.req.valid("param").id, body.amount, c.req.valid("header")["idempotency-key"]), 200);
  };

const voidRedemption: AppRouteHandler<typeof routes.voidRedemption> = async (c) => {
  await expectNoBody(c);
  return c.json(await redemptions.settle(c.env, c.var.auth, "void", c.req.valid("param").id, undefined, c.req.valid("header")["idempotency-key"]), 200);
};

export default createRouter()
  .openapi(routes.redeem, redeem)
  .openapi(routes.listRedemptions, listRedemptions)
  .openapi(routes.captureRedemption, settle("capture"))
  .openapi(routes.voidRedemption, voidRedemption)
  .openapi(routes.refundRedemption, settle("refund"));
