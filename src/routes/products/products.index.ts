import { csvCodes, jsonCodes } from "../../catalog/codes.parse";
import * as codes from "../../catalog/codes.service";
import * as products from "../../catalog/products.service";
import { named } from "../../core/openapi";
import { createRouter, type AppRouteHandler } from "../../core/router";
import { missingUpload } from "../../core/errors";
import { UPLOAD_BODY_LIMIT, isCsv } from "../../core/limits";
import * as routeDefs from "./products.routes";

const routes = named(routeDefs);

const createProduct: AppRouteHandler<typeof routes.createProduct> = async (c) => {
  const product = await products.createProduct(c.env, c.var.auth, c.req.valid("json"), c.var.requestId);
  return c.json(product, 201, { location: `/v1/products/${product.id}` });
};

const listProducts: AppRouteHandler<typeof routes.listProducts> = async (c) => {
  const { limit, cursor } = c.req.valid("query");
  return c.json(await products.listProducts(c.env.DB, c.var.auth.org, limit, cursor), 200);
};

const getProduct: AppRouteHandler<typeof routes.getProduct> = async (c) => {
  const row = await products.requireProduct(c.env.DB, c.var.auth.org, c.req.valid("param").id);
  return c.json(products.productView(row), 200);
};

const uploadCodes: AppRouteHandler<typeof routes.uploadCodes> = async (c) => {
  const json = c.req.valid("json");
  if (!isCsv(c.req.header("content-type")) && !json.codes) throw missingUpload(c.req.header("content-type"), "codes");
  const source = isCsv(c.req.header("content-type")) ? csvCodes(c.req.raw.body, UPLOAD_BODY_LIMIT) : jsonCodes(json.codes);
  return c.json(await codes.uploadCodes(c.env, c.var.auth, c.req.valid("param").id, source, c.var.requestId), 201);
};

const inventory: AppRouteHandler<typeof routes.inventory> = async (c) => {
  return c.json(await codes.inventoryCounts(c.env.DB, c.var.auth.org, c.req.valid("param").id), 200);
};

export default createRouter()
  .openapi(routes.createProduct, createProduct)
  .openapi(routes.listProducts, listProducts)
  .openapi(routes.getProduct, getProduct)
  .openapi(routes.uploadCodes, uploadCodes)
  .openapi(routes.inventory, inventory);
