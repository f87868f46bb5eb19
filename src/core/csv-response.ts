/** CSV exports: every route that offers `Accept: text/csv` negotiates and answers the same way. */
import type { Context } from "hono";
import { accepts } from "hono/accepts";

/** True when the request's Accept header prefers CSV to JSON (q-values count; JSON is the default). */
export function wantsCsv(c: Context): boolean {
  return accepts(c, { header: "Accept", supports: ["application/json", "text/csv"], default: "application/json" }) === "text/csv";
}

/** Headers of a CSV attachment named `filename`. */
export function csvHeaders(filename: string): Record<string, string> {
  return { "content-type": "text/csv; charset=utf-8", "content-disposition": `attachment; filename="${filename}"` };
}
