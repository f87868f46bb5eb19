import { createRoute, z } from "@hono/zod-openapi";
import { IdParam, IdempotencyHeader, csvBody, json, jsonBody, page, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";
import * as s from "./batches.schemas";

const tags = ["Batches"];
const BatchId = IdParam("bat");

export const createBatch = createRoute({
  method: "post",
  path: "/v1/batches",
  tags,
  summary: "Create a batch (status draft)",
  description: "Unknown fields (status, created_by, totals...) are refused. pool_id and product_id must be the org's own and share a currency.",
  ...protect(["operator", "integrator"]),
  request: { headers: IdempotencyHeader, body: jsonBody(s.CreateBatch) },
  responses: { 201: json(s.BatchSchema, "The new batch"), ...problems(400, 401, 403, 422) },
});

export const listBatches = createRoute({
  method: "get",
  path: "/v1/batches",
  tags,
  summary: "List batches, newest first",
  ...protect("any"),
  request: { query: s.BatchListQuery },
  responses: { 200: json(page(s.BatchSchema), "Batches"), ...problems(400, 401, 403) },
});

export const getBatch = createRoute({
  method: "get",
  path: "/v1/batches/{id}",
  tags,
  summary: "A batch: status, metadata, counts by status, totals",
  ...protect("any"),
  request: { params: BatchId },
  responses: { 200: json(s.BatchSchema, "The batch"), ...problems(401, 403, 404) },
});

export const uploadRecipients = createRoute({
  method: "post",
  path: "/v1/batches/{id}/recipients",
  tags,
  summary: "Upload recipients (CSV streamed, or JSON); repeat for more chunks",
  description:
    "CSV: a header line naming the columns (external_id, name, email, phone, country, amount, currency; other columns become template fields), " +
    "RFC 4180 quoting, UTF-8 with or without BOM, CRLF or LF; up to 32 MiB per request. JSON: up to 5,000 recipients (1 MiB). " +
    "Each row is validated and ends valid, invalid or excluded with reasons. Allowed while the batch is draft or validated; " +
    "a draft batch with valid rows becomes validated. One upload per batch at a time (409 otherwise). " +
    "An upload that would take the batch's valid total past 2^53−1 minor units is refused whole (400 amount_too_large, nothing stored).",
  ...protect(["operator", "integrator"]),
  request: {
    params: BatchId,
    headers: IdempotencyHeader,
    body: {
      required: false,
      content: {
        "application/json": { schema: s.UploadJson },
        "text/csv": { schema: csvBody("external_id,name,email,country,amount\nE1,Ann Lee,ann@example.com,US,2500\n") },
      },
    },
  },
  responses: { 200: json(s.UploadResultSchema, "Counts of this upload and the batch"), ...problems(400, 401, 403, 404, 409, 413, 415, 422) },
});

export const previewBatch = createRoute({
  method: "get",
  path: "/v1/batches/{id}/preview",
  tags,
  summary: "Counts by status and reason, totals, amount distribution, anomalies, pool coverage",
  ...protect("any"),
  request: { params: BatchId },
  responses: { 200: json(s.PreviewSchema, "The preview"), ...problems(401, 403, 404) },
});

export const listRecipients = createRoute({
  method: "get",
  path: "/v1/batches/{id}/recipients",
  tags,
  summary: "Recipient rows with reasons; Accept: text/csv exports every selected row",
  description: "CSV cells that a spreadsheet would run as formulas (starting with = + - @, tab, CR) are prefixed with an apostrophe.",
  ...protect("any"),
  request: { params: BatchId, query: s.RecipientQuery },
  responses: {
    200: {
      description: "A page of rows (JSON) or all selected rows (CSV)",
      content: {
        "application/json": { schema: page(s.RecipientSchema) },
        "text/csv": { schema: z.string() },
      },
    },
    ...problems(400, 401, 403, 404),
  },
});

export const cancelBatch = createRoute({
  method: "post",
  path: "/v1/batches/{id}/cancel",
  tags,
  summary: "Cancel a batch",
  description:
    "From draft, validated, submitted or approved; the batch's hold goes back to the pool once. A submit running at the same moment " +
    "either finishes first (this cancel answers 409 invalid_state_transition; a new cancel cancels the submitted batch) or loses and gives back what it reserved: " +
    "no hold outlives its batch. Holds a crash left behind are released by the five-minute orphan-hold sweep.",
  ...protect(["operator", "finance"]),
  request: { params: BatchId, headers: IdempotencyHeader, body: { required: false, content: { "application/json": { schema: s.CancelBatch } } } },
  responses: { 200: json(s.BatchSchema, "The cancelled batch"), ...problems(400, 401, 403, 404, 409, 422) },
});
