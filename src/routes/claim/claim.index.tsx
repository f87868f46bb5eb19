/** GET /claim/{token}: HTML in, HTML out; never cached, never referred, never framed, no scripts. */
import { named } from "../../core/openapi";
import { createRouter } from "../../core/router";
import { openClaim } from "../../support/claim";
import { ClaimNotFoundPage, ClaimPage } from "./claim.page";
import * as routeDefs from "./claim.routes";

const routes = named(routeDefs);

const HEADERS = {
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "x-robots-tag": "noindex, nofollow",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
};

const router = createRouter();
router.openAPIRegistry.registerPath(routes.openClaim);

router.get("/claim/:token", async (c) => {
  const claim = await openClaim(c.env, c.req.param("token"));
  if (!claim) return c.html(<ClaimNotFoundPage />, 404, HEADERS);
  return c.html(<ClaimPage claim={claim} />, 200, HEADERS);
});

export default router;
