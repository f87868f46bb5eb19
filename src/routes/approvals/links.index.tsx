/**
 * The approval-link pages of both subjects (a batch; a campaign's rewards of one UTC day). HTML in, HTML out: errors render as pages, not problem+json, and every
 * response carries no-referrer, no-store and a CSP that forbids scripts and framing.
 */
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { JSX } from "hono/jsx/jsx-runtime";
import { publicOrigin } from "../../approvals/config";
import { decideCampaignDayByLink, openCampaignDayLink, renewCampaignDayByLink } from "../../approvals/campaign-links";
import { decideByLink, openLink } from "../../approvals/links";
import { verifyAnyApprovalToken } from "../../approvals/tokens";
import { renewByLink } from "../../approvals/resend";
import { AppError } from "../../core/errors";
import { redactTokens } from "../../core/redact";
import { named } from "../../core/openapi";
import { createRouter } from "../../core/router";
import type { AppEnv } from "../../env";
import { ApprovalPage, CampaignDayPage, campaignResultText, ErrorPage, RenewedPage, ResultPage, resultText } from "./pages";
import * as routeDefs from "./links.routes";

const routes = named(routeDefs);

const FORM_LIMIT = 16 * 1024;
/** Also the approver verification pages' headers (src/routes/approvers/verify.index.tsx). */
export const LINK_PAGE_HEADERS = {
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "x-robots-tag": "noindex, nofollow",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
};

function page(c: Context<AppEnv>, status: number, body: JSX.Element) {
  return c.html(body as string | Promise<string>, status as 200, LINK_PAGE_HEADERS);
}

const router = createRouter();
router.openAPIRegistry.registerPath(routes.openLink);
router.openAPIRegistry.registerPath(routes.decideLink);
router.openAPIRegistry.registerPath(routes.renewLink);

router.get("/approve/:token", async (c) => {
  const token = c.req.param("token");
  const opts = { record: c.req.method === "GET", userAgent: c.req.header("user-agent") };
  const subject = await verifyAnyApprovalToken(c.env, token, { allowExpired: true });
  if (subject.kind === "campaign_day") return page(c, 200, <CampaignDayPage page={await openCampaignDayLink(c.env, token, subject.claims, opts)} />);
  return page(c, 200, <ApprovalPage page={await openLink(c.env, token, opts)} />);
});

router.post(
  "/approve/:token",
  bodyLimit({
    maxSize: FORM_LIMIT,
    onError: () => {
      throw new AppError("payload_too_large", "The form is too large");
    },
  }),
  async (c) => {
    const form = routes.DecisionForm.safeParse(await c.req.parseBody());
    if (!form.success) throw new AppError("validation_failed", "Choose Approve or Reject on the approval page.");
    const { decision, comment, fingerprint } = form.data;
    const token = c.req.param("token");
    const origin = publicOrigin(c.env, c.req.url);
    const subject = await verifyAnyApprovalToken(c.env, token, { allowExpired: true });
    if (subject.kind === "campaign_day") {
      const result = await decideCampaignDayByLink(c.env, token, subject.claims, { decision, comment: comment || null, fingerprint }, origin, c.var.requestId);
      return page(c, 200, <ResultPage {...campaignResultText(result)} />);
    }
    const result = await decideByLink(c.env, token, { decision, comment: comment || null }, origin, c.var.requestId);
    return page(c, 200, <ResultPage {...resultText(result)} />);
  },
);

router.post("/approve/:token/renew", async (c) => {
  const token = c.req.param("token");
  const origin = publicOrigin(c.env, c.req.url);
  const subject = await verifyAnyApprovalToken(c.env, token, { allowExpired: true });
  const result =
    subject.kind === "campaign_day"
      ? await renewCampaignDayByLink(c.env, token, subject.claims, origin, c.var.requestId)
      : await renewByLink(c.env, token, origin, c.var.requestId);
  return page(c, result.emailed ? 200 : 502, <RenewedPage result={result} />);
});

router.onError((err, c) => {
  if (err instanceof AppError && err.status < 500) {
    // An expired link that a new one would mend offers one (the form posts to /approve/{token}/renew;
    // that route ignores expiry, so this only happens on the link's own path).
    const renew = err.extra.renewable ? `${c.req.path}/renew` : undefined;
    return page(c, err.status, <ErrorPage code={err.code} detail={err.message} renewAction={renew} />);
  }
  console.error(JSON.stringify({ request_id: c.var.requestId, error: redactTokens(String(err)), stack: redactTokens(String((err as Error)?.stack)) }));
  return page(c, 500, <ErrorPage code="internal_error" detail={`Something went wrong on our side; nothing was decided. Reference: ${c.var.requestId}`} />);
});

export default router;
