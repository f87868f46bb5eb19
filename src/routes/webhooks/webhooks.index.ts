import { named } from "../../core/openapi";
import { createRouter, type AppRouteHandler } from "../../core/router";
import * as endpoints from "../../webhooks/endpoints.service";
import { setLowBalanceThreshold } from "../../webhooks/low-balance";
import { listEndpointDeliveries, recoverEndpoint, retryDelivery, sendPing } from "../../webhooks/replay";
import * as routeDefs from "./webhooks.routes";

const routes = named(routeDefs);

const createWebhookEndpoint: AppRouteHandler<typeof routes.createWebhookEndpoint> = async (c) =>
  c.json(await endpoints.createEndpoint(c.env, c.var.auth, c.req.valid("json"), c.var.requestId), 201);

const listWebhookEndpoints: AppRouteHandler<typeof routes.listWebhookEndpoints> = async (c) => {
  const q = c.req.valid("query");
  return c.json(await endpoints.listEndpoints(c.env.DB, c.var.auth.org, q.limit, q.cursor), 200);
};

const getWebhookEndpoint: AppRouteHandler<typeof routes.getWebhookEndpoint> = async (c) =>
  c.json(endpoints.view(await endpoints.getEndpoint(c.env.DB, c.var.auth.org, c.req.valid("param").id)), 200);

const updateWebhookEndpoint: AppRouteHandler<typeof routes.updateWebhookEndpoint> = async (c) =>
  c.json(await endpoints.updateEndpoint(c.env, c.var.auth, c.req.valid("param").id, c.req.valid("json"), c.var.requestId), 200);

const deleteWebhookEndpoint: AppRouteHandler<typeof routes.deleteWebhookEndpoint> = async (c) => {
  await endpoints.deleteEndpoint(c.env, c.var.auth, c.req.valid("param").id, c.var.requestId);
  return c.body(null, 204);
};

const rotateWebhookSecret: AppRouteHandler<typeof routes.rotateWebhookSecret> = async (c) =>
  c.json(await endpoints.rotateSecret(c.env, c.var.auth, c.req.valid("param").id, c.var.requestId), 200);

const testWebhookEndpoint: AppRouteHandler<typeof routes.testWebhookEndpoint> = async (c) =>
  c.json(await sendPing(c.env, c.var.auth, c.req.valid("param").id), 200);

const listWebhookDeliveries: AppRouteHandler<typeof routes.listWebhookDeliveries> = async (c) =>
  c.json(await listEndpointDeliveries(c.env, c.var.auth.org, c.req.valid("param").id, c.req.valid("query")), 200);

const retryWebhookDelivery: AppRouteHandler<typeof routes.retryWebhookDelivery> = async (c) =>
  c.json(await retryDelivery(c.env, c.var.auth, c.req.valid("param").id), 200);

const recoverWebhookEndpoint: AppRouteHandler<typeof routes.recoverWebhookEndpoint> = async (c) =>
  c.json(await recoverEndpoint(c.env, c.var.auth, c.req.valid("param").id, new Date(c.req.valid("json").since).toISOString()), 202);

const setPoolLowBalanceAlert: AppRouteHandler<typeof routes.setPoolLowBalanceAlert> = async (c) =>
  c.json(await setLowBalanceThreshold(c.env, c.var.auth, c.req.valid("param").id, c.req.valid("json").threshold, c.var.requestId), 200);

const router = createRouter()
  .openapi(routes.createWebhookEndpoint, createWebhookEndpoint)
  .openapi(routes.listWebhookEndpoints, listWebhookEndpoints)
  .openapi(routes.getWebhookEndpoint, getWebhookEndpoint)
  .openapi(routes.updateWebhookEndpoint, updateWebhookEndpoint)
  .openapi(routes.deleteWebhookEndpoint, deleteWebhookEndpoint)
  .openapi(routes.rotateWebhookSecret, rotateWebhookSecret)
  .openapi(routes.testWebhookEndpoint, testWebhookEndpoint)
  .openapi(routes.listWebhookDeliveries, listWebhookDeliveries)
  .openapi(routes.retryWebhookDelivery, retryWebhookDelivery)
  .openapi(routes.recoverWebhookEndpoint, recoverWebhookEndpoint)
  .openapi(routes.setPoolLowBalanceAlert, setPoolLowBalanceAlert);

export default router;
