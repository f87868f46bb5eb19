import { named } from "../../core/openapi";
import { createRouter, type AppRouteHandler } from "../../core/router";
import * as pools from "../../pools/pools.service";
import * as routeDefs from "./pools.routes";
import { moveOperationId } from "../../pools/op-ids";

const routes = named(routeDefs);

const createPool: AppRouteHandler<typeof routes.createPool> = async (c) => {
  const pool = await pools.createPool(c.env, c.var.auth, c.req.valid("json"), c.var.requestId);
  return c.json(pool, 201, { location: `/v1/pools/${pool.id}` });
};

const listPools: AppRouteHandler<typeof routes.listPools> = async (c) => {
  const { limit, cursor } = c.req.valid("query");
  return c.json(await pools.listPools(c.env, c.var.auth.org, limit, cursor), 200);
};

const getPool: AppRouteHandler<typeof routes.getPool> = async (c) => {
  return c.json(await pools.getPool(c.env, c.var.auth.org, c.req.valid("param").id), 200);
};

const fundPool: AppRouteHandler<typeof routes.fundPool> = async (c) => {
  const opId = await moveOperationId("fund", c.var.auth, c.req.valid("header")["idempotency-key"]);
  const pool = await pools.movePoolFunds(c.env, c.var.auth, "fund", c.req.valid("param").id, c.req.valid("json"), opId, c.var.requestId);
  return c.json({ ...pool, ...pool.balance }, 200);
};

const withdrawPool: AppRouteHandler<typeof routes.withdrawPool> = async (c) => {
  const opId = await moveOperationId("withdraw", c.var.auth, c.req.valid("header")["idempotency-key"]);
  const pool = await pools.movePoolFunds(c.env, c.var.auth, "withdraw", c.req.valid("param").id, c.req.valid("json"), opId, c.var.requestId);
  return c.json({ ...pool, ...pool.balance }, 200);
};

const poolLedger: AppRouteHandler<typeof routes.poolLedger> = async (c) => {
  const { limit, cursor } = c.req.valid("query");
  return c.json(await pools.ledgerPage(c.env, c.var.auth.org, c.req.valid("param").id, limit, cursor), 200);
};

export default createRouter()
  .openapi(routes.createPool, createPool)
  .openapi(routes.listPools, listPools)
  .openapi(routes.getPool, getPool)
  .openapi(routes.fundPool, fundPool)
  .openapi(routes.withdrawPool, withdrawPool)
  .openapi(routes.poolLedger, poolLedger);
