/**
 * The OpenAPI document states every limit the API enforces on what it is sent, and every problem
 * an operation can answer: a client generated from it (or a reviewer reading it) meets no limit
 * the document does not name.
 */
import { describe, expect, it } from "vitest";
import { callJson } from "./helpers/api";

type Schema = Record<string, any>;

/**
 * Values judged row by row rather than refused with the request: an upload's amount outside the
 * product's range (or not a whole number) makes that row or code invalid with a reason, so the
 * document cannot bound them without promising a 400 the API does not answer.
 */
const JUDGED_PER_ROW = [/ body\(application\/json\)\.recipients\[\]\.amount: number/, / body\(application\/json\)\.codes\[\]\.amount: number/];

async function document(): Promise<Schema> {
  const { status, body } = await callJson("/openapi.json");
  expect(status).toBe(200);
  return body;
}

/** Every string, number and array reachable from `schema` that states no bound, as readable paths. */
function unbounded(doc: Schema, schema: Schema | undefined, path: string, seen = new Set<Schema>()): string[] {
  while (schema?.$ref)
    schema = (schema.$ref as string)
      .replace("#/", "")
      .split("/")
      .reduce((o: Schema, k: string) => o[k], doc);
  if (!schema || seen.has(schema)) return [];
  const inner = new Set(seen).add(schema);
  const out: string[] = [];
  for (const k of ["allOf", "anyOf", "oneOf"]) for (const s of schema[k] ?? []) out.push(...unbounded(doc, s, path, inner));
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== "null") : schema.type;
  const fixed = schema.enum !== undefined || schema.const !== undefined;
  if (type === "string" && schema.maxLength === undefined && !fixed) out.push(`${path}: string without maxLength`);
  if ((type === "integer" || type === "number") && !fixed) {
    if (schema.minimum === undefined && schema.exclusiveMinimum === undefined) out.push(`${path}: ${type} without minimum`);
    if (schema.maximum === undefined && schema.exclusiveMaximum === undefined) out.push(`${path}: ${type} without maximum`);
    if (type === "integer" && (schema.maximum ?? 0) > 2 ** 31 && schema.format !== "int64") out.push(`${path}: integer past 2^31 without format int64`);
  }
  if (type === "array") {
    if (schema.maxItems === undefined) out.push(`${path}: array without maxItems`);
    out.push(...unbounded(doc, schema.items, `${path}[]`, inner));
  }
  for (const [k, v] of Object.entries<Schema>(schema.properties ?? {})) out.push(...unbounded(doc, v, `${path}.${k}`, inner));
  if (typeof schema.additionalProperties === "object") out.push(...unbounded(doc, schema.additionalProperties, `${path}{}`, inner));
  return out;
}

function operations(doc: Schema): { id: string; op: Schema }[] {
  return Object.entries<Schema>(doc.paths).flatMap(([path, item]) =>
    Object.entries<Schema>(item).map(([method, op]) => ({ id: `${method.toUpperCase()} ${path}`, op })),
  );
}

describe("the OpenAPI document states the API's limits", () => {
  it("bounds every string, number and array a request can carry (parameters and bodies)", async () => {
    const doc = await document();
    const found = operations(doc).flatMap(({ id, op }) => [
      ...(op.parameters ?? []).flatMap((p: Schema) => unbounded(doc, p.schema, `${id} ${p.in} ${p.name}`)),
      ...Object.entries<Schema>(op.requestBody?.content ?? {}).flatMap(([type, c]) => unbounded(doc, c.schema, `${id} body(${type})`)),
    ]);
    expect(found.filter((f) => !JUDGED_PER_ROW.some((r) => r.test(f)))).toEqual([]);
  });

  it("documents 401, 403, 429 and 500 wherever they can be answered, and public operations say security: []", async () => {
    const doc = await document();
    const missing = operations(doc).flatMap(({ id, op }) => {
      if (!Array.isArray(op.security)) return [`${id}: no security`];
      const isPublic = op.security.length === 0;
      const anyToken = op["x-roles"]?.[0] === "any valid token";
      // The rate limits (src/middleware/rate-limit.ts) cover /v1 per caller and the link pages per client.
      const limited = / \/(v1|approve|verify|claim)\//.test(id);
      const needed = [...(limited ? ["429"] : []), "500", ...(isPublic ? [] : anyToken ? ["401"] : ["401", "403"])];
      return needed.filter((s) => !op.responses[s]).map((s) => `${id}: no ${s}`);
    });
    expect(missing).toEqual([]);
    expect(doc.paths["/health"].get.security).toEqual([]);
    expect(doc.paths["/approve/{token}"].post.security).toEqual([]);
  });

  it("names the rate-limit headers on every 429", async () => {
    const doc = await document();
    const bare = operations(doc)
      .filter(({ op }) => op.responses["429"])
      .filter(({ op }) => !["Retry-After", "RateLimit-Policy", "RateLimit"].every((h) => op.responses["429"].headers?.[h]))
      .map(({ id }) => id);
    expect(bare).toEqual([]);
  });

  it("marks money amounts as 64-bit integers up to 2^53−1", async () => {
    const doc = await document();
    const amount = doc.paths["/v1/pools/{id}/fund"].post.requestBody.content["application/json"].schema;
    const fund = amount.$ref ? doc.components.schemas[amount.$ref.split("/").pop()] : amount;
    expect(fund.properties.amount).toMatchObject({ type: "integer", format: "int64", maximum: Number.MAX_SAFE_INTEGER });
  });
});
