import { createRoute, type z } from "@hono/zod-openapi";
import { IdParam, IdempotencyHeader, ListQuery, json, jsonBody, page, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";
import * as s from "./cards.schemas";

const tags = ["Stored-value cards"];
const CardId = IdParam("card");
const readers = ["finance", "support", "operator", "auditor"] as const;
const optionalBody = (schema: z.ZodType) => ({ ...jsonBody(schema), required: false });

export const listCards = createRoute({
  method: "get",
  path: "/v1/cards",
  tags,
  summary: "Cards, newest first (masked codes only; balances from the D1 mirror)",
  ...protect(readers),
  request: { query: s.CardListQuery },
  responses: { 200: json(page(s.CardSummarySchema), "A page of cards"), ...problems(400) },
});

export const getCard = createRoute({
  method: "get",
  path: "/v1/cards/{id}",
  tags,
  summary: "A card: status, live balance, buckets, expiry, recent transactions",
  ...protect(readers),
  request: { params: CardId },
  responses: { 200: json(s.CardSchema, "The card"), ...problems(404) },
});

export const cardTransactions = createRoute({
  method: "get",
  path: "/v1/cards/{id}/transactions",
  tags,
  summary: "Every change of the card, newest first, with the balance before and after",
  ...protect(readers),
  request: { params: CardId, query: ListQuery },
  responses: { 200: json(page(s.CardTxnSchema), "Transactions"), ...problems(400, 404) },
});

export const lookupCard = createRoute({
  method: "post",
  path: "/v1/cards/lookup",
  tags,
  summary: "Find a card by its code (in the body: codes never travel in URLs)",
  description: "Unknown codes and other orgs' codes get the same 404.",
  ...protect(["integrator", "support"]),
  request: { headers: IdempotencyHeader, body: jsonBody(s.CodeBody) },
  responses: { 200: json(s.CardSchema, "The card"), ...problems(400, 404, 422) },
});

export const creditCard = createRoute({
  method: "post",
  path: "/v1/cards/{id}/credit",
  tags,
  summary: "Add bonus value, committed from a funding pool; it expires on its own (breakage)",
  description:
    "Reserves and commits the amount in the pool under operation ids derived from the credit's id (the Idempotency-Key when sent), so a retry never pays twice. Expired bonus value does not return to the pool.",
  ...protect(["finance"]),
  request: { params: CardId, headers: IdempotencyHeader, body: jsonBody(s.CreditBody) },
  responses: { 201: json(s.CreditResultSchema, "The card with the new bonus bucket"), ...problems(400, 404, 409, 422) },
});

export const freezeCard = createRoute({
  method: "post",
  path: "/v1/cards/{id}/freeze",
  tags,
  summary: "Freeze a card: no redemption or capture until unfrozen",
  ...protect(["support", "finance"]),
  request: { params: CardId, headers: IdempotencyHeader, body: optionalBody(s.FlagBody) },
  responses: { 200: json(s.CardSchema, "The card"), ...problems(400, 404, 409, 422) },
});

export const unfreezeCard = createRoute({
  method: "post",
  path: "/v1/cards/{id}/unfreeze",
  tags,
  summary: "Unfreeze a card",
  ...protect(["support", "finance"]),
  request: { params: CardId, headers: IdempotencyHeader, body: optionalBody(s.FlagBody) },
  responses: { 200: json(s.CardSchema, "The card"), ...problems(400, 404, 409, 422) },
});
