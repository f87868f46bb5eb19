declare module "@seriousme/openapi-schema-validator/resolve.js" {
  export function checkRefs(tree: unknown): { valid: boolean; errors?: unknown };
}
declare module "*?raw" {
  const text: string;
  export default text;
}
