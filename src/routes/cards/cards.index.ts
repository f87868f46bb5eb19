import * as cards from "../../cards/cards.service";
import { creditCard as credit } from "../../cards/credit";
import { named } from "../../core/openapi";
import { createRouter, type AppRouteHandler } from "../../core/router";
import * as routeDefs from "./cards.routes";

const routes = named(routeDefs);

const listCards: AppRouteHandler<typeof routes.listCards> = async (c) => {
  const { limit, cursor, ...filter } = c.req.valid("query");
  return c.json(await cards.listCards(c.env, c.var.auth.org, filter, limit, cursor), 200);
};

const getCard: AppRouteHandler<typeof routes.getCard> = async (c) => c.json(await cards.getCard(c.env, c.var.auth.org, c.req.valid("param").id), 200);

const cardTransactions: AppRouteHandler<typeof routes.cardTransactions> = async (c) => {
  const { limit, cursor } = c.req.valid("query");
  return c.json(await cards.cardTransactions(c.env, c.var.auth.org, c.req.valid("param").id, limit, cursor), 200);
};

const lookupCard: AppRouteHandler<typeof routes.lookupCard> = async (c) => c.json(await cards.lookupCard(c.env, c.var.auth.org, c.req.valid("json").code), 200);

const creditCard: AppRouteHandler<typeof routes.creditCard> = async (c) => {
  const key = c.req.valid("header")["idempotency-key"];
  return c.json(await credit(c.env, c.var.auth, c.req.valid("param").id, c.req.valid("json"), key), 201);
};

const freeze =
  (frozen: boolean): AppRouteHandler<typeof routes.freezeCard> =>
  async (c) => {
    const key = c.req.valid("header")["idempotency-key"];
    const body = (c.req.valid("json") ?? {}) as { reason?: string };
    return c.json(await cards.setFrozen(c.env, c.var.auth, c.req.valid("param").id, frozen, body.reason, key), 200);
  };

export default createRouter()
  .openapi(routes.listCards, listCards)
  .openapi(routes.lookupCard, lookupCard)
  .openapi(routes.getCard, getCard)
  .openapi(routes.cardTransactions, cardTransactions)
  .openapi(routes.creditCard, creditCard)
  .openapi(routes.freezeCard, freeze(true))
  .openapi(routes.unfreezeCard, freeze(false));
