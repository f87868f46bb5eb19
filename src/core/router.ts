import { OpenAPIHono, type RouteConfig, type RouteHandler, type z } from "@hono/zod-openapi";
import { AppError, type FieldError } from "./errors";
import type { AppEnv } from "../env";

export type AppRouteHandler<R extends RouteConfig> = RouteHandler<R, AppEnv>;

/** Turns zod issues into problem+json `errors[]` entries that point at the offending field. */
export function fieldErrors(target: string, error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String);
    const detail = issue.code === "unrecognized_keys" ? `Unknown field(s): ${issue.keys.join(", ")}` : issue.message;
    if (target === "json" || target === "form") {
      const pointer = "/" + path.map((p) => p.replaceAll("~", "~0").replaceAll("/", "~1")).join("/");
      return { pointer: pointer === "/" ? "" : pointer, code: issue.code, detail };
    }
    // An unknown key has an empty path: name the key itself.
    const name = path[0] ?? (issue.code === "unrecognized_keys" ? issue.keys.join(",") : "");
    if (target === "header") return { header: name, code: issue.code, detail };
    return { parameter: name, code: issue.code, detail };
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
