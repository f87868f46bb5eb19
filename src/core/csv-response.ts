/** CSV exports: every route that offers `Accept: text/csv` negotiates and answers the same way. */

export function wantsCsv(accept: string | undefined): boolean {
  return /\btext\/csv\b/i.test(accept ?? "");
}

/** Headers of a CSV attachment named `filename`. */
export function csvHeaders(filename: string): Record<string, string> {
  return { "content-type": "text/csv; charset=utf-8", "content-disposition": `attachment; filename="${filename}"` };
}
