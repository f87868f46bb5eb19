import { batchPreview } from "../../batches/preview";
import * as batches from "../../batches/batches.service";
import { cancelBatch as cancel } from "../../approvals/cancel";
import { recipientPage } from "../../batches/recipients.page";
import { csvRecipients, jsonRecipients } from "../../batches/recipients.parse";
import { uploadRecipients as upload } from "../../batches/recipients.upload";
import { missingUpload } from "../../core/errors";
import { UPLOAD_BODY_LIMIT, isCsv } from "../../core/limits";
import { named } from "../../core/openapi";
import { createRouter, type AppRouteHandler } from "../../core/router";
import * as routeDefs from "./batches.routes";
import { csvHeaders, wantsCsv } from "../../core/csv-response";

const routes = named(routeDefs);

const createBatch: AppRouteHandler<typeof routes.createBatch> = async (c) => {
  const batch = await batches.createBatch(c.env, c.var.auth, c.req.valid("json"), c.var.requestId);
  return c.json(batch, 201, { location: `/v1/batches/${batch.id}` });
};

const listBatches: AppRouteHandler<typeof routes.listBatches> = async (c) =>
  c.json(await batches.listBatches(c.env.DB, c.var.auth.org, c.req.valid("query")), 200);

const getBatch: AppRouteHandler<typeof routes.getBatch> = async (c) => {
  const row = await batches.requireBatch(c.env.DB, c.var.auth.org, c.req.valid("param").id);
  return c.json(batches.batchView(row), 200);
};

const uploadRecipients: AppRouteHandler<typeof routes.uploadRecipients> = async (c) => {
  const { id } = c.req.valid("param");
  if (isCsv(c.req.header("content-type"))) {
    return c.json(await upload(c.env, c.var.auth, id, "csv", csvRecipients(c.req.raw.body, UPLOAD_BODY_LIMIT), c.var.requestId), 200);
  }
  const { recipients } = c.req.valid("json");
  if (!recipients) throw missingUpload(c.req.header("content-type"), "recipients");
  return c.json(await upload(c.env, c.var.auth, id, "json", jsonRecipients(recipients), c.var.requestId), 200);
};

const previewBatch: AppRouteHandler<typeof routes.previewBatch> = async (c) => c.json(await batchPreview(c.env, c.var.auth.org, c.req.valid("param").id), 200);

const listRecipients: AppRouteHandler<typeof routes.listRecipients> = async (c) => {
  const csv = wantsCsv(c);
  const result = await recipientPage(c.env.DB, c.var.auth.org, c.req.valid("param").id, c.req.valid("query"), csv);
  if (result.csv) {
    return c.body(result.csv, 200, csvHeaders(result.filename));
  }
  return c.json(result.page, 200);
};

const cancelBatch: AppRouteHandler<typeof routes.cancelBatch> = async (c) => {
  const body = c.req.valid("json");
  return c.json(await cancel(c.env, c.var.auth, c.req.valid("param").id, body.reason, c.var.requestId), 200);
};

export default createRouter()
  .openapi(routes.createBatch, createBatch)
  .openapi(routes.listBatches, listBatches)
  .openapi(routes.getBatch, getBatch)
  .openapi(routes.uploadRecipients, uploadRecipients)
  .openapi(routes.previewBatch, previewBatch)
  .openapi(routes.listRecipients, listRecipients)
  .openapi(routes.cancelBatch, cancelBatch);
