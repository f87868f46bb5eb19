import { missingUpload } from "../../core/errors";
import { UPLOAD_BODY_LIMIT, isCsv } from "../../core/limits";
import { named } from "../../core/openapi";
import { createRouter, type AppRouteHandler } from "../../core/router";
import * as customers from "../../customers/customers.service";
import { csvCustomers, importCustomers as runImport, jsonCustomers } from "../../customers/customers.import";
import * as segments from "../../customers/segments";
import * as routeDefs from "./customers.routes";

const routes = named(routeDefs);

const putCustomer: AppRouteHandler<typeof routes.putCustomer> = async (c) => {
  const { created, customer } = await customers.putCustomer(c.env, c.var.auth, c.req.valid("param").external_id, c.req.valid("json"));
  return created ? c.json(customer, 201) : c.json(customer, 200);
};

const listCustomers: AppRouteHandler<typeof routes.listCustomers> = async (c) =>
  c.json(await customers.listCustomers(c.env, c.var.auth.org, c.req.valid("query")), 200);

const getCustomer: AppRouteHandler<typeof routes.getCustomer> = async (c) =>
  c.json(await customers.customerDetail(c.env, c.var.auth.org, c.req.valid("param").external_id), 200);

const importCustomers: AppRouteHandler<typeof routes.importCustomers> = async (c) => {
  if (isCsv(c.req.header("content-type"))) {
    return c.json(await runImport(c.env, c.var.auth, "csv", csvCustomers(c.req.raw.body, UPLOAD_BODY_LIMIT), c.var.requestId), 200);
  }
  const body = c.req.valid("json");
  if (!body?.customers) throw missingUpload(c.req.header("content-type"), "customers");
  return c.json(await runImport(c.env, c.var.auth, "json", jsonCustomers(body.customers), c.var.requestId), 200);
};

const eraseCustomer: AppRouteHandler<typeof routes.eraseCustomer> = async (c) =>
  c.json(await customers.eraseCustomer(c.env, c.var.auth, c.req.valid("param").external_id, c.var.requestId), 200);

const createSegment: AppRouteHandler<typeof routes.createSegment> = async (c) => {
  await segments.requireRoomForSegment(c.env, c.var.auth.org);
  const segment = await segments.createSegment(c.env, c.var.auth, c.req.valid("json"), c.var.requestId);
  return c.json(segment, 201, { location: `/v1/segments/${segment.id}` });
};

const listSegments: AppRouteHandler<typeof routes.listSegments> = async (c) => {
  const q = c.req.valid("query");
  return c.json(await segments.listSegments(c.env, c.var.auth.org, q.limit, q.cursor), 200);
};

const getSegment: AppRouteHandler<typeof routes.getSegment> = async (c) =>
  c.json(await segments.getSegment(c.env, c.var.auth.org, c.req.valid("param").id), 200);

export default createRouter()
  .openapi(routes.importCustomers, importCustomers)
  .openapi(routes.putCustomer, putCustomer)
  .openapi(routes.listCustomers, listCustomers)
  .openapi(routes.getCustomer, getCustomer)
  .openapi(routes.eraseCustomer, eraseCustomer)
  .openapi(routes.createSegment, createSegment)
  .openapi(routes.listSegments, listSegments)
  .openapi(routes.getSegment, getSegment);
