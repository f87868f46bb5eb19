import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";

/**
 * Headers every response carries, errors and 404s included. Nothing the API answers may be cached
 * by a browser or proxy (a delivery's `claim_url` is a gift code; the link pages show approvals),
 * nor sniffed into another content type. Responses that set no Content-Security-Policy get a strict
 * one: JSON needs none of a page's powers, and an HTML page (the link pages set their own) at least
 * cannot be framed. A policy that says nothing of framing gains `frame-ancestors 'none'`.
 */
export const securityHeaders = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  let headers = c.res.headers;
  try {
    headers.set("cache-control", "no-store");
  } catch {
    // A response passed through from a fetch has immutable headers: copy it once.
    c.res = new Response(c.res.body, c.res);
    headers = c.res.headers;
    headers.set("cache-control", "no-store");
  }
  headers.set("x-content-type-options", "nosniff");
  if (!headers.has("referrer-policy")) headers.set("referrer-policy", "no-referrer");
  const html = /^text\/html/i.test(headers.get("content-type") ?? "");
  const csp = headers.get("content-security-policy");
  if (!csp) headers.set("content-security-policy", html ? "frame-ancestors 'none'" : "default-src 'none'; frame-ancestors 'none'");
  else if (!/(^|;)\s*frame-ancestors\s/i.test(csp)) headers.set("content-security-policy", `${csp}; frame-ancestors 'none'`);
  if (html && !headers.has("x-frame-options")) headers.set("x-frame-options", "DENY");
});
