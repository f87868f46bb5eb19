/**
 * The approver verification pages. HTML in, HTML out, with the approval pages' headers: errors
 * render as pages, and every response carries no-referrer, no-store and a CSP without scripts.
 */
import type { Context } from "hono";
import type { JSX } from "hono/jsx/jsx-runtime";
import { confirmVerification, openVerification } from "../../approvers/verify";
import { AppError } from "../../core/errors";
import { named } from "../../core/openapi";
import { createRouter } from "../../core/router";
import type { AppEnv } from "../../env";
import { LINK_PAGE_HEADERS } from "../approvals/links.index";
import { ConfirmedPage, ConfirmPage, VerifyErrorPage } from "./verify.page";
import * as routeDefs from "./verify.routes";
import { redactTokens } from "../../core/redact";

const routes = named(routeDefs);

function page(c: Context<AppEnv>, status: number, body: JSX.Element) {
  return c.html(body as string | Promise<string>, status as 200, LINK_PAGE_HEADERS);
}

const router = createRouter();
router.openAPIRegistry.registerPath(routes.openVerification);
router.openAPIRegistry.registerPath(routes.confirmVerification);

router.get("/verify/:token", async (c) => page(c, 200, <ConfirmPage page={await openVerification(c.env, c.req.param("token"))} />));

router.post("/verify/:token", async (c) => page(c, 200, <ConfirmedPage result={await confirmVerification(c.env, c.req.param("token"), c.var.requestId)} />));

router.onError((err, c) => {
  if (err instanceof AppError && err.status < 500) return page(c, err.status, <VerifyErrorPage code={err.code} detail={err.message} />);
  console.error(JSON.stringify({ request_id: c.var.requestId, error: redactTokens(String(err)), stack: redactTokens(String((err as Error)?.stack ?? "")) }));
  return page(
    c,
    500,
    <VerifyErrorPage code="internal_error" detail={`Something went wrong on our side; nothing was confirmed. Reference: ${c.var.requestId}`} />,
  );
});

export default router;
