import { named } from "../../core/openapi";
import { createRouter, type AppRouteHandler } from "../../core/router";
import { receiveEvent } from "../../customers/event-profiles";
import { receiveEventBatch } from "../../events/event-batch";
import * as events from "../../events/events.service";
import * as routeDefs from "./events.routes";

const routes = named(routeDefs);

const postEvent: AppRouteHandler<typeof routes.postEvent> = async (c) =>
  c.json(await receiveEvent(c.env, c.var.auth, c.req.valid("json"), c.var.requestId), 202);

const postEventBatch: AppRouteHandler<typeof routes.postEventBatch> = async (c) =>
  c.json(await receiveEventBatch(c.env, c.var.auth, c.req.valid("json").events, c.var.requestId), 202);

const getEvent: AppRouteHandler<typeof routes.getEvent> = async (c) => c.json(await events.getEvent(c.env, c.var.auth.org, c.req.valid("param").id), 200);

export default createRouter().openapi(routes.postEvent, postEvent).openapi(routes.postEventBatch, postEventBatch).openapi(routes.getEvent, getEvent);
