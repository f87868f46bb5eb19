import { HTTPException } from "hono/http-exception";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { methodNotAllowed } from "hono/method-not-allowed";
import { requestId } from "hono/request-id";
import { AppError, problemResponse } from "./core/errors";
import { redactTokens } from "./core/redact";
import { DEFAULT_BODY_LIMIT, UPLOAD_BODY_LIMIT, isCsv } from "./core/limits";
import { problems } from "./core/openapi";
import { createRouter } from "./core/router";
import { createDb } from "./db/client";
import { authenticate } from "./middleware/auth";
import { limitCaller, limitFailedAuth, limitLinkPages } from "./middleware/rate-limit";
import { securityHeaders } from "./middleware/security-headers";
import { utf8Json } from "./middleware/utf8-json";
import approvals from "./routes/approvals/approvals.index";
import approvalLinks from "./routes/approvals/links.index";
import approvers from "./routes/approvers/approvers.index";
import approverVerification from "./routes/approvers/verify.index";
import audit from "./routes/audit/audit.index";
import dev from "./routes/dev/dev.index";
import pools from "./routes/pools/pools.index";
import batches from "./routes/batches/batches.index";
import cards from "./routes/cards/cards.index";
import liability from "./routes/liability/liability.index";
import campaigns from "./routes/campaigns/campaigns.index";
import events from "./routes/events/events.index";
import customers from "./routes/customers/customers.index";
import claim from "./routes/claim/claim.index";
import deliveries from "./routes/deliveries/deliveries.index";
import exceptions from "./routes/exceptions/exceptions.index";
import products from "./routes/products/products.index";
import redemptions from "./routes/redemptions/redemptions.index";
import reconciliations from "./routes/reconciliations/reconciliations.index";
import reports from "./routes/reports/reports.index";
import settings from "./routes/settings/settings.index";
import suppressions from "./routes/suppressions/suppressions.index";
import service from "./routes/service/service.index";
import webhooks from "./routes/webhooks/webhooks.index";
import { registerEventCatalogue } from "./routes/webhooks/webhooks.events";
import { docsPage } from "./routes/service/docs.page";
import type { AppEnv } from "./env";

/** Request body limits (src/core/limits.ts): 1 MiB for JSON, 32 MiB per CSV chunk on the bulk upload routes. */
export { DEFAULT_BODY_LIMIT, UPLOAD_BODY_LIMIT };
const UPLOAD_ROUTES = [/^\/v1\/batches\/[^/]+\/recipients$/, /^\/v1\/products\/[^/]+\/codes$/, /^\/v1\/customers\/import$/];

function limitBody(maxSize: number) {
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new AppError("payload_too_large", `The body exceeds ${maxSize} bytes; send it in smaller chunks`);
    },
  });
}
const defaultLimit = limitBody(DEFAULT_BODY_LIMIT);
/**
 * CSV uploads are streamed by their route, which counts bytes as it reads (src/core/csv-stream.ts);
 * hono's bodyLimit would buffer a body sent without Content-Length, so here only the declared length is checked.
 */
const uploadLimit = createMiddleware<AppEnv>(async (c, next) => {
  const declared = Number(c.req.header("content-length") ?? 0);
  if (declared > UPLOAD_BODY_LIMIT) throw new AppError("payload_too_large", `The body exceeds ${UPLOAD_BODY_LIMIT} bytes; send it in smaller chunks`);
  await next();
});
const isUpload = (path: string, contentType: string | undefined) => isCsv(contentType) && UPLOAD_ROUTES.some((r) => r.test(path));

/**
 * A POST with `Content-Type: application/json` and no body at all (what many HTTP clients send for
 * "no body") is read as having no body, not as malformed JSON: routes whose body is optional
 * (cancel, reverse, resend, ...) then run, and required ones name their missing fields. An empty
 * `text/csv` body keeps its type: it is an empty file, and the upload says so (`invalid_csv`).
 */
const emptyBodyIsNoBody = createMiddleware<AppEnv>(async (c, next) => {
  const req = c.req.raw;
  const type = req.headers.get("content-type");
  if (type !== null && !isCsv(type) && (req.body === null || req.headers.get("content-length") === "0")) {
    const headers = new Headers(req.headers);
    headers.delete("content-type");
    headers.delete("content-length");
    c.req.raw = new Request(req.url, { method: req.method, headers, signal: req.signal });
  }
  await next();
});

const routers = [
  service,
  pools,
  audit,
  settings,
  suppressions,
  approvers,
  approverVerification,
  products,
  batches,
  approvals,
  approvalLinks,
  deliveries,
  exceptions,
  claim,
  reconciliations,
  reports,
  cards,
  redemptions,
  liability,
  campaigns,
  events,
  customers,
  webhooks,
  dev,
];
/** Approval, verification and claim links carry their token in the path: never written to logs. */
const loggedPath = redactTokens;

export function createApp() {
  const app = createRouter();

  app.use(securityHeaders);
  app.use(requestId({ headerName: "x-request-id" }));
  app.use(async (c, next) => {
    const started = Date.now();
    c.set("db", createDb(c.env.DB));
    await next();
    if (c.env.ENVIRONMENT !== "test" && c.env.ENVIRONMENT !== "bench") {
      console.log(
        JSON.stringify({ request_id: c.var.requestId, method: c.req.method, path: loggedPath(c.req.path), status: c.res.status, ms: Date.now() - started }),
      );
    }
  });
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) =>
        problemResponse(new AppError("method_not_allowed", `${c.req.method} is not allowed here; use ${methods.join(", ")}`), c.req.path, c.var.requestId, {
          allow: methods.join(", "),
        }),
    }),
  );
  for (const pages of ["/approve/*", "/verify/*", "/claim/*"]) app.use(pages, limitLinkPages);
  app.use(limitFailedAuth);
  app.use("/v1/*", authenticate);
  app.use("/v1/*", limitCaller);
  app.use("/v1/*", (c, next) => (isUpload(c.req.path, c.req.header("content-type")) ? uploadLimit(c, next) : defaultLimit(c, next)));
  app.use("/v1/*", emptyBodyIsNoBody);
  app.use("*", utf8Json);

  for (const router of routers) app.route("/", router);
  // On the app itself: a sub-router's webhooks would be merged with its mount path prefixed ("/batch.completed").
  registerEventCatalogue(app);

  // The document and the reference page are routes of the contract too (API.md, Service).
  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/openapi.json",
    operationId: "openapi",
    tags: ["Service"],
    summary: "This OpenAPI 3.1 document",
    security: [],
    responses: { 200: { description: "The OpenAPI document", content: { "application/json": { schema: { type: "object" } } } }, ...problems() },
  });
  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/docs",
    operationId: "docs",
    tags: ["Service"],
    summary: "Interactive API reference (HTML) reading /openapi.json",
    security: [],
    responses: { 200: { description: "The reference page", content: { "text/html": { schema: { type: "string" } } } }, ...problems() },
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "JWT with claims sub, org, roles, iss, aud, exp (see `npm run token`).",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Rewardrail API",
      version: "1.0.0",
      description: "Bulk and event-triggered rewards with validated batches, approvals, funding pools, delivery and reconciliation.",
    },
    servers: [{ url: "/" }],
  });
  app.get("/docs", docsPage);

  app.notFound((c) => problemResponse(new AppError("not_found", `No route for ${c.req.method} ${c.req.path}`), c.req.path, c.var.requestId));
  app.onError((err, c) => {
    const requestId = c.var.requestId;
    if (err instanceof AppError) return problemResponse(err, c.req.path, requestId);
    if (err instanceof HTTPException) {
      if (err.status === 400 && /json/i.test(err.message)) {
        return problemResponse(new AppError("invalid_json", "The request body is not valid JSON"), c.req.path, requestId);
      }
      if (err.status === 413) return problemResponse(new AppError("payload_too_large"), c.req.path, requestId);
      if (err.status === 415)
        return problemResponse(new AppError("unsupported_media_type", "Send application/json (or text/csv where the route takes it)"), c.req.path, requestId);
      if (err.status === 401) return problemResponse(new AppError("unauthorized"), c.req.path, requestId);
      if (err.status < 500) return problemResponse(new AppError("unprocessable", err.message), c.req.path, requestId);
    }
    console.error(
      JSON.stringify({
        request_id: requestId,
        path: loggedPath(c.req.path),
        error: redactTokens(String(err)),
        stack: redactTokens(String((err as Error)?.stack)),
      }),
    );
    return problemResponse(new AppError("internal_error", "Something went wrong on our side; quote the request id to support"), c.req.path, requestId);
  });

  return app;
}

export type App = ReturnType<typeof createApp>;
export type { AppEnv };
