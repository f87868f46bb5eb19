import { Scalar } from "@scalar/hono-api-reference";
import type { Context } from "hono";
import type { AppEnv } from "../../env";

/** Where the Scalar reference page loads its script from (its default CDN) and its fonts. */
const SCRIPT_CDN = "https://cdn.jsdelivr.net";
const FONTS = "https://fonts.scalar.com";

// Telemetry off: the page reports nothing to a third party (and its CSP allows no such connection).
const render = Scalar({ url: "/openapi.json", pageTitle: "Rewardrail API", telemetry: false });

const sha256 = async (text: string) => {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
};

/**
 * The page's policy: its script from the CDN plus the one inline script that starts it (allowed by
 * its hash, not by 'unsafe-inline'); styles inline (the bundle injects them); fonts from Scalar;
 * requests only to this origin (/openapi.json and "try it" calls). 'unsafe-eval' because the bundle
 * compiles schema examples and validators with new Function. Never framed, no forms, no base tag.
 */
async function policy(html: string): Promise<string> {
  const inline = [...html.matchAll(/<script\b(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/gi)].map((m) => m[1]!);
  const hashes = await Promise.all(inline.map(async (s) => `'sha256-${await sha256(s)}'`));
  return [
    "default-src 'none'",
    `script-src ${SCRIPT_CDN} 'unsafe-eval' ${hashes.join(" ")}`,
    `style-src 'unsafe-inline' ${SCRIPT_CDN}`,
    `font-src ${FONTS} data:`,
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** GET /docs: the Scalar API reference reading /openapi.json, with a Content-Security-Policy. */
export async function docsPage(c: Context<AppEnv>): Promise<Response> {
  // Scalar types its handler for the default Hono env; it only calls c.html.
  const page = (await render(c as unknown as Context, async () => {})) as Response;
  const html = await page.text();
  return c.html(html, 200, { "content-security-policy": await policy(html) });
}
