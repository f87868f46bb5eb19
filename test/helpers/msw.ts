import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll } from "vitest";

/** Intercepts the Worker's outbound HTTP (Resend, SMS) at the fetch boundary, so real client code runs. */
export function interceptOutbound() {
  const server = setupServer();
  beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
  afterEach(() => server.resetHandlers());
  afterAll(() => server.close());
  return server;
}
