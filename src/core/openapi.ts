import { z, type RouteConfig } from "@hono/zod-openapi";
import { ERROR_CODES } from "./errors";
import { UPLOAD_BODY_LIMIT } from "./limits";
import { hasUnsafeText } from "./text";

/** Problem Details (RFC 9457) as every error response documents it. */
export const ProblemSchema = z
  .object({
    type: z.string().url(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.enum(Object.keys(ERROR_CODES) as [keyof typeof ERROR_CODES, ...(keyof typeof ERROR_CODES)[]]),
    instance: z.string().optional(),
    request_id: z.string().optional(),
    errors: z
      .array(
        z.object({
          pointer: z.string().optional(),
          parameter: z.string().optional(),
          header: z.string().optional(),
          code: z.string(),
          detail: z.string(),
        }),
      )
      .optional(),
  })
  .openapi("Problem");

const STATUS_TEXT: Record<number, string> = {
  400: "Invalid request (validation_failed, invalid_json, ...)",
  401: "Missing or invalid bearer token",
  403: "The token lacks the role this route needs",
  404: "Not found (or owned by another org)",
  405: "Method not allowed",
  409: "Conflict with the current state",
  410: "Gone (e.g. an expired approval link)",
  413: "Body too large",
  415: "Unsupported media type",
  422: "Unprocessable (e.g. idempotency_key_reused)",
  429: "Rate limited (rate_limited): wait Retry-After seconds",
  500: "Internal error",
};

type ProblemResponse = {
  description: string;
  headers?: Record<string, { description: string; schema: { type: "string" | "integer"; minimum?: number; maxLength?: number } }>;
  content: { "application/problem+json": { schema: typeof ProblemSchema } };
};

/** The headers of a 429 (src/middleware/rate-limit.ts; a resend's throttle sends Retry-After alone). */
export const RateLimitHeaders: ProblemResponse["headers"] = {
  "Retry-After": { description: "Seconds to wait before trying again", schema: { type: "integer", minimum: 0 } },
  "RateLimit-Policy": {
    description:
      'The quota that was exceeded (draft-ietf-httpapi-ratelimit-headers): `"caller";q=6000;w=60` per org and sub on /v1, `"client";q=100;w=60` per IP on link pages and failed authentication',
    schema: { type: "string", maxLength: 200 },
  },
  RateLimit: { description: 'What is left of the quota and when it returns, e.g. `"client";r=0;t=60`', schema: { type: "string", maxLength: 200 } },
};

const problem = (status: number): ProblemResponse => ({
  description: STATUS_TEXT[status] ?? "Error",
  ...(status === 429 ? { headers: RateLimitHeaders } : {}),
  content: { "application/problem+json": { schema: ProblemSchema } },
});

/** Problem+json responses for the given statuses, to spread into a route's `responses`. */
export function problems<const S extends readonly number[]>(...statuses: S) {
  const out: Record<number, ProblemResponse> = {};
  for (const s of [...statuses, 500]) out[s] = problem(s);
  return out as { [K in S[number] | 500]: ProblemResponse };
}

/** A JSON response entry for `responses`. */
export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } } as const;
}

/** A JSON request body entry for `request.body`. */
export function jsonBody<T extends z.ZodType>(schema: T, description = "JSON body") {
  return { required: true, description, content: { "application/json": { schema } } } as const;
}

export const IdempotencyHeader = z.object({
  "idempotency-key": z
    .string()
    .max(255)
    .regex(/^[\x21-\x7e]+$/)
    .optional()
    .openapi({ description: "Makes a retried POST safe: same key and body replay the first response (1–255 visible ASCII characters)." }),
});

export const ListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50).openapi({ description: "Page size (max 500)" }),
  cursor: z.string().max(200).optional().openapi({ description: "next_cursor from the previous page" }),
});

export function page<T extends z.ZodType>(item: T) {
  return z.object({ data: z.array(item), next_cursor: z.string().nullable() });
}

export const IdParam = (prefix: string) =>
  z.object({
    id: z
      .string()
      .min(1)
      .max(64)
      .openapi({ param: { name: "id", in: "path" }, example: `${prefix}_01J...` }),
  });

/**
 * A `text/csv` request body for the docs. Routes read CSV as a stream themselves, so the schema
 * validates nothing and is typed `never` to keep `c.req.valid("json")` typed as the JSON body.
 */
export function csvBody(example: string) {
  return z
    .custom<never>(() => true)
    .openapi({ type: "string", maxLength: UPLOAD_BODY_LIMIT, description: `CSV, streamed; at most ${UPLOAD_BODY_LIMIT} bytes per request`, example });
}

/** A time bound in a query (`from`, `to`): an ISO 8601 time with offset, or a date (midnight UTC), read as an ISO instant. */
export const TimeQuery = z
  .union([z.iso.datetime({ offset: true }).openapi({ maxLength: 40 }), z.iso.date().openapi({ maxLength: 10 })])
  .transform((s) => new Date(s).toISOString())
  .optional();

/** A one-line name or label that people read: trimmed, 1..max chars, none of the characters `hasUnsafeText` refuses. */
export const PlainText = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine((v) => !hasUnsafeText(v), "no control, format (bidi, zero-width) or line-separator characters");

const isRoute = (v: unknown): v is RouteConfig => typeof v === "object" && v !== null && "method" in v && "path" in v && "responses" in v;

/** Routes behind a rate limit: /v1 per caller, the link pages per client IP (src/middleware/rate-limit.ts). */
const RATE_LIMITED_PATHS = /^\/(v1|approve|verify|claim)\//;

/**
 * The problems every route can answer whatever it does, so that no route has to remember them:
 * 500 everywhere; 429 behind a rate limit; 401 on every route behind a bearer token and 403 where
 * it needs a role (`GET /v1/me` takes any valid token); 413 and 415 where a body is read.
 */
function sharedProblems(route: RouteConfig): Record<number, ProblemResponse> {
  const isPublic = !route.security || route.security.length === 0;
  const anyToken = ((route as { "x-roles"?: string[] })["x-roles"] ?? [])[0] === "any valid token";
  const statuses = [
    ...(RATE_LIMITED_PATHS.test(route.path) ? [429] : []),
    ...(isPublic ? [] : anyToken ? [401] : [401, 403]),
    ...(route.request?.body ? [413, 415] : []),
  ];
  return problems(...statuses);
}

/**
 * A routes module's routes as the app registers them: each named by its export name as its
 * `operationId` (SDK generators name their methods after it), public ones saying so with
 * `security: []`, and each documenting the problems every route can answer (`sharedProblems`).
 */
export function named<T extends Record<string, unknown>>(routes: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, route] of Object.entries(routes)) {
    out[name] = !isRoute(route)
      ? route
      : {
          ...route,
          operationId: route.operationId ?? name,
          security: route.security ?? [],
          responses: { ...sharedProblems(route), ...route.responses },
        };
  }
  return out as T;
}
