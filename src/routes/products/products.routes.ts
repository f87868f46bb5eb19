import { createRoute, z } from "@hono/zod-openapi";
import { IdParam, IdempotencyHeader, ListQuery, PlainText, csvBody, json, jsonBody, page, problems } from "../../core/openapi";
import { protect } from "../../middleware/auth";
import { Amount, CountryCode, CurrencyCode } from "../../settings/settings.schema";

export const ProductSchema = z
  .object({
    id: z.string().openapi({ example: "prd_01jd..." }),
    name: z.string(),
    kind: z.enum(["inventory", "stored_value"]),
    currency: z.string(),
    min_amount: z.number().int(),
    max_amount: z.number().int(),
    countries: z.array(z.string()),
    expires_after_days: z.number().int().optional(),
    created_by: z.string(),
    created_at: z.string(),
  })
  .openapi("Product");

const CreateProduct = z
  .strictObject({
    name: PlainText(200),
    kind: z.enum(["inventory", "stored_value"]),
    currency: CurrencyCode,
    min_amount: Amount.openapi({ description: "Smallest amount, minor units" }),
    max_amount: Amount.openapi({ description: "Largest amount, minor units" }),
    countries: z.array(CountryCode).min(1).max(249).openapi({ description: "Where the product can be used" }),
    expires_after_days: z.number().int().min(1).max(3650).optional(),
  })
  .openapi("CreateProduct");

const CodesBody = z
  .strictObject({
    codes: z
      .array(z.strictObject({ code: z.string().max(256), amount: z.number() }))
      .min(1)
      .max(5000),
  })
  .openapi("UploadCodes");

export const CodeUploadSchema = z
  .object({
    product_id: z.string(),
    upload_id: z.string(),
    added: z.number().int(),
    by_amount: z.array(z.object({ amount: z.number().int(), count: z.number().int() })),
  })
  .openapi("CodeUpload");

export const InventorySchema = z
  .object({
    product_id: z.string(),
    kind: z.enum(["inventory", "stored_value"]),
    available: z.number().int(),
    assigned: z.number().int(),
    total: z.number().int(),
    by_amount: z.array(z.object({ amount: z.number().int(), available: z.number().int(), assigned: z.number().int() })),
  })
  .openapi("Inventory");

const tags = ["Catalog"];
const ProductId = IdParam("prd");

export const createProduct = createRoute({
  method: "post",
  path: "/v1/products",
  tags,
  summary: "Create a product",
  ...protect(["admin"]),
  request: { headers: IdempotencyHeader, body: jsonBody(CreateProduct) },
  responses: { 201: json(ProductSchema, "The product"), ...problems(400, 401, 403, 422) },
});

export const listProducts = createRoute({
  method: "get",
  path: "/v1/products",
  tags,
  summary: "List products, newest first",
  ...protect("any"),
  request: { query: ListQuery },
  responses: { 200: json(page(ProductSchema), "Products"), ...problems(400, 401, 403) },
});

export const getProduct = createRoute({
  method: "get",
  path: "/v1/products/{id}",
  tags,
  summary: "A product",
  ...protect("any"),
  request: { params: ProductId },
  responses: { 200: json(ProductSchema, "The product"), ...problems(401, 403, 404) },
});

export const uploadCodes = createRoute({
  method: "post",
  path: "/v1/products/{id}/codes",
  tags,
  summary: "Upload inventory codes (CSV `code,amount` streamed, or JSON); any duplicate refuses the whole upload",
  description: "Codes are encrypted at rest and never returned. CSV bodies up to 32 MiB per request; JSON up to 1 MiB (5,000 codes).",
  ...protect(["admin", "finance"]),
  request: {
    params: ProductId,
    headers: IdempotencyHeader,
    body: {
      required: false,
      content: {
        "application/json": { schema: CodesBody },
        "text/csv": { schema: csvBody("code,amount\nGIFT-AAAA-1111,2500\n") },
      },
    },
  },
  responses: { 201: json(CodeUploadSchema, "Codes added"), ...problems(400, 401, 403, 404, 409, 413, 415, 422) },
});

export const inventory = createRoute({
  method: "get",
  path: "/v1/products/{id}/inventory",
  tags,
  summary: "Code counts: available, assigned, by amount",
  ...protect("any"),
  request: { params: ProductId },
  responses: { 200: json(InventorySchema, "Counts"), ...problems(401, 403, 404) },
});
