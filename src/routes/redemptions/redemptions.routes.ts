import { createRoute, z } from "@hono/zod-openapi";
import { IdParam, IdempotencyHeader, ProblemSchema, json, jsonBody, page, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";
import * as s from "../cards/cards.schemas";

const tags = ["Redemptions"];

const RedemptionProblem = ProblemSchema.extend({
  available: z.number().int().optional().openapi({ description: "insufficient_balance: what the card has available" }),
  redemption_id: z.string().optional().openapi({ description: "duplicate_reference: the redemption that used the reference" }),
}).openapi("RedemptionProblem");
const refused = {
  description: "insufficient_balance (with available), card_frozen, card_expired, card_reversed, duplicate_reference (with redemption_id)",
  content: { "application/problem+json": { schema: RedemptionProblem } },
};
const RedemptionId = IdParam("rdm");

export const redeem = createRoute({
  method: "post",
  path: "/v1/redemptions",
  tags,
  summary: "Redeem a card at checkout: capture now, or hold value until capture, void or expiry",
  description:
    "By `code` (in the body) or `card_id`. Spends the earliest-expiring value first and never below zero. Problems: 409 `insufficient_balance` (with `available`), " +
    "`card_frozen`, `card_expired`, `card_reversed`, `duplicate_reference` (the reference was used on this card before; `redemption_id` names that redemption); " +
    "400 `currency_mismatch`; 404 for an unknown code.",
  ...protect(["integrator"]),
  request: { headers: IdempotencyHeader, body: jsonBody(s.RedeemBody) },
  responses: { 201: json(s.RedemptionSchema, "The redemption (captured or pending) and the card's balance"), ...problems(400, 404, 422), 409: refused },
});

export const listRedemptions = createRoute({
  method: "get",
  path: "/v1/redemptions",
  tags,
  summary: "Redemptions, newest first; by card and/or reference",
  ...protect(["integrator", "finance", "support", "auditor"]),
  request: { query: s.RedemptionListQuery },
  responses: { 200: json(page(s.RedemptionSchema), "A page of redemptions"), ...problems(400) },
});

export const captureRedemption = createRoute({
  method: "post",
  path: "/v1/redemptions/{id}/capture",
  tags,
  summary: "Capture a pending redemption (all of it, or less: the rest goes back to the card)",
  ...protect(["integrator"]),
  request: { params: RedemptionId, headers: IdempotencyHeader, body: { ...jsonBody(s.AmountBody), required: false } },
  responses: { 200: json(s.RedemptionSchema, "The captured redemption"), ...problems(400, 404, 409, 422) },
});

export const voidRedemption = createRoute({
  method: "post",
  path: "/v1/redemptions/{id}/void",
  tags,
  summary: "Void a pending redemption: its value goes back to the card",
  ...protect(["integrator"]),
  request: { params: RedemptionId, headers: IdempotencyHeader },
  responses: { 200: json(s.RedemptionSchema, "The voided redemption"), ...problems(400, 404, 409, 422) },
});

export const refundRedemption = createRoute({
  method: "post",
  path: "/v1/redemptions/{id}/refund",
  tags,
  summary: "Refund a captured redemption (all, or part): value goes back to the bucket it came from",
  description: "Value whose bucket has expired since counts as expired (breakage) rather than coming back.",
  ...protect(["integrator", "finance"]),
  request: { params: RedemptionId, headers: IdempotencyHeader, body: { ...jsonBody(s.AmountBody), required: false } },
  responses: { 200: json(s.RedemptionSchema, "The redemption after the refund"), ...problems(400, 404, 409, 422) },
});
