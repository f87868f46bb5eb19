import { outboxEnabled, readOutbox } from "../../channels/outbox";
import { AppError } from "../../core/errors";
import { named } from "../../core/openapi";
import { createRouter, type AppRouteHandler } from "../../core/router";
import * as routeDefs from "./dev.routes";

const routes = named(routeDefs);

const outbox: AppRouteHandler<typeof routes.outbox> = async (c) => {
  if (!outboxEnabled(c.env)) throw new AppError("not_found", "The dev outbox exists only in development without provider keys");
  const data = await readOutbox(c.env, c.req.valid("query"));
  return c.json({ data }, 200);
};

export default createRouter().openapi(routes.outbox, outbox);
