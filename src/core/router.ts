import { OpenAPIHono, type RouteConfig, type RouteHandler, type z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { AppError, type FieldError } from "./errors";
import type { AppEnv } from "../env";

export type AppRouteHandler<R extends RouteConfig> = RouteHandler<R, AppEnv>;

const toPointer = (path: string[]) => path.map((p) => `/${p.replaceAll("~", "~0").replaceAll("/", "~1")}`).join("");

type Issue = z.core.$ZodIssue;

/** A discriminated union whose discriminator matched none of its options. */
const noMatch = (i: Issue) => i.code === "invalid_union" && i.errors.length === 0 && i.discriminator !== undefined && "options" in i;

/**
 * How far a union's branch is from the input: a key the branch does not know, or a discriminator
 * that matches none of its options, says the input is another branch's; any other issue is a
 * problem inside the branch.
 */
function distance(issues: Issue[]): number {
  return issues.reduce((sum, i) => sum + (i.code === "unrecognized_keys" ? 10 * i.keys.length : noMatch(i) ? 5 : 1), 0);
}

/**
 * A union that failed points at the field of the branch the input is closest to (`/trigger/days`
 * for `{ kind: "inactivity" }`, `/trigger/kind` for an unknown kind) rather than at the union itself;
 * a discriminator that matches no option names them.
 */
function flatten(issue: Issue): Issue[] {
  if (issue.code !== "invalid_union") return [issue];
  if (noMatch(issue)) {
    const options = ("options" in issue ? (issue.options ?? []) : []).map((o) => JSON.stringify(o)).join(", ");
    return [{ ...issue, message: `Unknown ${String(issue.discriminator ?? "value")}: expected one of ${options}` }];
  }
  const branches = issue.errors.filter((b) => b.length > 0);
  if (branches.length === 0) return [issue];
  const best = branches.reduce((a, b) => (distance(b) < distance(a) ? b : a));
  return best.flatMap((i) => flatten({ ...i, path: [...issue.path, ...i.path] } as Issue));
}

/**
 * Turns zod issues into problem+json `errors[]` entries that point at the offending field. Unknown
 * fields get one entry each, pointing at the field itself (`/extra`, `/recipients/0/hacker`).
 */
export function fieldErrors(target: string, error: z.ZodError): FieldError[] {
  return error.issues.flatMap(flatten).flatMap((issue) => {
    const path = issue.path.map(String);
    const fields =
      issue.code === "unrecognized_keys" ? issue.keys.map((k) => ({ path: [...path, k], detail: `Unknown field: ${k}` })) : [{ path, detail: issue.message }];
    // A custom check names its own stable reason (`params.reason`, e.g. date_invalid), as the other routes' validators do.
    const reason = issue.code === "custom" ? (issue as { params?: { reason?: unknown } }).params?.reason : undefined;
    const code = typeof reason === "string" ? reason : issue.code;
    return fields.map(({ path, detail }): FieldError => {
      if (target === "json" || target === "form") return { pointer: toPointer(path), code, detail };
      if (target === "header") return { header: path[0] ?? "", code, detail };
      return { parameter: path[0] ?? "", code, detail };
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
