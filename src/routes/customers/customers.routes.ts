import { createRoute } from "@hono/zod-openapi";
import { IdParam, IdempotencyHeader, ListQuery, csvBody, json, jsonBody, page, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";
import * as s from "./customers.schemas";

const tags = ["Customers"];

export const putCustomer = createRoute({
  method: "put",
  path: "/v1/customers/{external_id}",
  tags,
  summary: "Create or replace a customer profile",
  description:
    "The body replaces the stored profile (fields left out become empty; `attributes` is replaced whole); `last_seen_at` is kept. " +
    "Contacts are checked like batch recipients (email grammar, E.164 phone), `country` is ISO 3166-1, `time_zone` an IANA zone; a problem answers 400 `validation_failed` with each field's `pointer` and `code` " +
    "(`email_invalid`, `phone_invalid`, `country_invalid`, `time_zone_invalid`, `attribute_invalid`, `attributes_too_large`, `name_invalid`). " +
    "Segments are judged again; an entry into a segment fires its `segment_entered` campaigns. 201 when the profile is new, 200 when it existed.",
  ...protect(["integrator", "operator"]),
  request: { params: s.ExternalIdParam, body: jsonBody(s.PutCustomer) },
  responses: {
    200: json(s.CustomerDetailSchema, "The profile, replaced"),
    201: json(s.CustomerDetailSchema, "The profile, created"),
    ...problems(400, 401, 403),
  },
});

export const listCustomers = createRoute({
  method: "get",
  path: "/v1/customers",
  tags,
  summary: "List customer profiles by external id",
  ...protect(["operator", "support", "auditor"]),
  request: { query: s.CustomerListQuery },
  responses: { 200: json(page(s.CustomerListItemSchema), "Customers, each with a summary of the rewards received"), ...problems(400, 401, 403) },
});

export const getCustomer = createRoute({
  method: "get",
  path: "/v1/customers/{external_id}",
  tags,
  summary: "A customer: profile, segments, rewards received, last_seen_at",
  description:
    "`rewards_received` lists campaign rewards by external id and batch payouts to the profile's email or phone (newest first, at most 100) with totals by currency.",
  ...protect(["operator", "support", "auditor"]),
  request: { params: s.ExternalIdParam },
  responses: { 200: json(s.CustomerDetailSchema, "The customer"), ...problems(401, 403, 404) },
});

export const importCustomers = createRoute({
  method: "post",
  path: "/v1/customers/import",
  tags,
  summary: "Import customer profiles (CSV streamed, or JSON)",
  description:
    "CSV: a header naming the columns in any order (external_id required; email, phone, name, country, time_zone; any other column is an attribute, as text), " +
    "RFC 4180 quoting, UTF-8, up to 32 MiB per request. JSON: `{ customers: [...] }`, up to 5,000. Each row replaces its profile like PUT, " +
    "or is listed in `errors` with its row number and reasons (`malformed_row`, `external_id_missing`, `email_invalid`, ...). Audited (counts only).",
  ...protect(["operator", "integrator"]),
  request: {
    headers: IdempotencyHeader,
    body: {
      required: false,
      content: {
        "application/json": { schema: s.ImportJson },
        "text/csv": { schema: csvBody("external_id,email,name,country,birthday,tier\nC-17,ann@example.com,Ann Lee,US,1990-07-14,gold\n") },
      },
    },
  },
  responses: { 200: json(s.ImportResultSchema, "Counts and the refused rows"), ...problems(400, 401, 403, 413, 415, 422) },
});

export const eraseCustomer = createRoute({
  method: "delete",
  path: "/v1/customers/{external_id}",
  tags,
  summary: "Erase a customer: the person is forgotten, amounts stay in the ledger",
  description:
    "Deletes the profile, its date index and segment memberships; empties the contact fields of the person's campaign outcomes, events (payload) and rows of finished batches, " +
    "and replaces their external id and identity key there by one pseudonym. Deliveries, cards, pool journal entries and amounts stay. Audited with the pseudonym only.",
  ...protect(["admin"]),
  request: { params: s.ExternalIdParam },
  responses: { 200: json(s.EraseResultSchema, "What was erased"), ...problems(401, 403, 404) },
});

const segmentTags = ["Segments"];

export const createSegment = createRoute({
  method: "post",
  path: "/v1/segments",
  tags: segmentTags,
  summary: "Create a segment: a named CEL condition over `customer`",
  description:
    '`customer` is { external_id, email, phone, name, country, time_zone, attributes, last_seen_at } (missing text is ""). The condition is parsed and type-checked here: ' +
    "one that does not compile answers 400 `validation_failed` with `pointer` /condition and `position`. Customers already stored are sorted in (the first 2,000 now, the rest by the five-minute sweep); " +
    "those entries fire no campaign.",
  ...protect(["admin", "operator"]),
  request: { headers: IdempotencyHeader, body: jsonBody(s.CreateSegment) },
  responses: { 201: json(s.SegmentSchema, "The new segment"), ...problems(400, 401, 403, 409, 422) },
});

export const listSegments = createRoute({
  method: "get",
  path: "/v1/segments",
  tags: segmentTags,
  summary: "The org's segments, newest first",
  ...protect(["admin", "operator"]),
  request: { query: ListQuery },
  responses: { 200: json(page(s.SegmentSchema), "Segments"), ...problems(400, 401, 403) },
});

export const getSegment = createRoute({
  method: "get",
  path: "/v1/segments/{id}",
  tags: segmentTags,
  summary: "A segment with its member count",
  ...protect(["admin", "operator"]),
  request: { params: IdParam("seg") },
  responses: { 200: json(s.SegmentSchema, "The segment"), ...problems(401, 403, 404) },
});
