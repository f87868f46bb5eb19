import type { FundingPool } from "../durable-objects/funding-pool";
import type { Database } from "./db/client";

/** Bindings from wrangler.toml, .dev.vars and `wrangler secret put`. */
export interface Env {
  DB: D1Database;
  FUNDING_POOL: DurableObjectNamespace<FundingPool>;
  DELIVERY_QUEUE: Queue;
  /** Reconciliation steps (src/queues/reconciliations.consumer.ts), apart from the reward sends. */
  RECONCILE_QUEUE: Queue;
  /** Webhook fan-out and sends (src/queues/webhooks.consumer.ts). */
  WEBHOOK_QUEUE: Queue;
  /** Workers Rate Limiting: requests per caller (org + sub) on /v1 (src/middleware/rate-limit.ts). */
  CALLER_RATE_LIMITER?: RateLimit;
  /** Workers Rate Limiting: link-page requests and failed authentications per client IP. */
  CLIENT_RATE_LIMITER?: RateLimit;
  /** "off" stops counting requests against the rate limits (benchmarks); anything else leaves them on. */
  RATE_LIMITS?: string;
  ENVIRONMENT: string;
  JWT_ISSUER: string;
  JWT_AUDIENCE: string;
  JWT_SECRET?: string;
  JWT_JWKS_URL?: string;
  /** Longest token lifetime (exp − iat) the API accepts, in seconds (default 86400). */
  JWT_MAX_TTL_SECONDS?: string;
  EMAIL_FROM: string;
  RESEND_API_KEY?: string;
  /** How long one provider call may take before it counts as a transient failure (default 15000). */
  EMAIL_TIMEOUT_MS?: string;
  /** Overrides Resend's API address (a local fake provider in benchmarks). */
  RESEND_BASE_URL?: string;
  /** SMS provider (a Twilio-style Messages API). */
  SMS_API_URL?: string;
  SMS_ACCOUNT_SID?: string;
  SMS_AUTH_TOKEN?: string;
  SMS_FROM?: string;
  /** Test-only crash points (src/delivery/failpoints.ts); unset in every real deployment. */
  FAILPOINTS?: string;
  /** Public origin used in links sent to approvers and recipients, e.g. https://rewards.example.com. */
  PUBLIC_BASE_URL?: string;
  CODE_ENCRYPTION_KEY?: string;
  /** HS256 key for approval-link tokens; when unset, one is derived from JWT_SECRET (never the same key). */
  APPROVAL_SIGNING_SECRET?: string;
  /** Hours an emailed approval link stays valid (default 72). */
  APPROVAL_LINK_TTL_HOURS?: string;
  /** Hours a submitted batch's funds stay reserved awaiting approval before it expires (default 168). */
  HOLD_TTL_HOURS?: string;
}

/** The authenticated caller, from the verified JWT. */
export interface Auth {
  sub: string;
  org: string;
  roles: Role[];
}

export const ROLES = ["admin", "operator", "finance", "owner", "support", "integrator", "auditor"] as const;
export type Role = (typeof ROLES)[number];

/** Hono environment shared by every route and middleware. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    auth: Auth;
    db: Database;
  };
}
