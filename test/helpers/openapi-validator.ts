// The official OpenAPI 3.1 JSON Schema, checked with Ajv (draft 2020-12) plus the $ref check of
// @seriousme/openapi-schema-validator. Its Validator class reads the schema from disk, which
// workerd's test runtime cannot, so the same pieces are assembled here from imports.
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { checkRefs } from "@seriousme/openapi-schema-validator/resolve.js";
import schema from "@seriousme/openapi-schema-validator/schemas/v3.1/schema.json";

export function validateOpenApi31(doc: unknown): { valid: boolean; errors?: unknown } {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addFormat("media-range", true);
  const validate = ajv.compile(schema);
  if (!validate(doc)) return { valid: false, errors: validate.errors };
  return checkRefs(doc as never) as { valid: boolean; errors?: unknown };
}
