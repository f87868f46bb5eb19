/**
 * Approval, verification and claim links carry their token in the path, and bearer tokens are JWTs:
 * both are credentials, so neither may reach a log line (README: headers and logs).
 */
const LINK_TOKEN = /\/(approve|claim|verify)\/[^/?#\s"'<>]+/g;
const JWT = /\beyJ[\w-]*\.[\w-]+\.[\w-]*/g;

/** `text` (a path, a URL, an error message) with link tokens and JWTs masked. */
export const redactTokens = (text: string): string => text.replace(LINK_TOKEN, "/$1/[token]").replace(JWT, "[jwt]");
