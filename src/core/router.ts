import { OpenAPIHono, type RouteConfig, type RouteHandler, type z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { AppError, type FieldError } from "./errors";
import type { AppEnv } from "../env";

export type AppRouteHandler<R extends RouteConfig> = RouteHandler<R, AppEnv>;

const toPointer = (path: string[]) => path.map((p) => `/${p.replaceAll("~", "~0").replaceAll("/", "~1")}`).join("");

/**
 * Turns zod issues into problem+json `errors[]` entries that point at the offending field. Unknown
 * fields get one entry each, pointing at the field itself (`/extra`, `/recipients/0/hacker`).
 */
export function fieldErrors(target: string, error: z.ZodError): FieldError[] {
  return error.issues.flatMap((issue) => {
    const path = issue.path.map(String);
    const fields =
      issue.code === "unrecognized_keys" ? issue.keys.map((k) => ({ path: [...path, k], detail: `Unknown field: ${k}` })) : [{ path, detail: issue.message }];
    return fields.map(({ path, detail }): FieldError => {
      if (target === "json" || target === "form") return { pointer: toPointer(path), code: issue.code, detail };
      if (target === "header") return { header: path[0] ?? "", code: issue.code, detail };
      return { parameter: path[0] ?? "", code: issue.code, detail };
    });
  });
}

/** Every router shares one validation hook, so a bad request always reads the same way. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    strict: false,
    defaultHook: (result) => {
      if (!result.success) {
        const errors = fieldErrors(result.target, result.error);
        throw new AppError("validation_failed", errors.map((e) => `${e.pointer ?? e.parameter ?? e.header}: ${e.detail}`).join("; "), {
          errors,
        });
      }
    },
  });
}

/**
 * For POSTs that take nothing (submit, release, a reconciliation run): no body, or `{}`, whatever its
 * Content-Type. Fields are refused as unknown ones (strict schemas: nothing is silently ignored),
 * anything else as not JSON.
 */
export async function expectNoBody(c: Context<AppEnv>): Promise<void> {
  const text = (await c.req.text()).trim();
  if (text === "") return;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AppError("invalid_json", "This route takes no body (or {})");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new AppError("validation_failed", "This route takes no body (or {})", {
      errors: [{ pointer: "", code: "invalid_type", detail: "Send nothing, or {}" }],
    });
  }
  const keys = Object.keys(value);
  if (keys.length > 0) {
    throw new AppError("validation_failed", `This route takes no fields: ${keys.join(", ")}`, {
      errors: keys.map((k) => ({ pointer: toPointer([k]), code: "unrecognized_keys", detail: `Unknown field: ${k}` })),
    });
  }
}
