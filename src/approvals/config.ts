/** Approval timing and the public origin of links, from the Worker's environment. */
import type { Env } from "../env";

const HOUR_MS = 60 * 60 * 1000;
export const DEFAULT_LINK_TTL_HOURS = 72;
export const DEFAULT_HOLD_TTL_HOURS = 7 * 24;
/** A batch scheduled for later keeps its funds reserved this long past release_at. */
const RELEASE_GRACE_MS = 24 * HOUR_MS;

function hours(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value && Number.isFinite(n) && n > 0 ? n : fallback;
}

export function linkTtlMs(env: Env): number {
  return hours(env.APPROVAL_LINK_TTL_HOURS, DEFAULT_LINK_TTL_HOURS) * HOUR_MS;
}

/** When a submitted batch's hold expires: the hold TTL from now, and never before release_at plus a day. */
export function holdExpiry(env: Env, releaseAt: string | null, now = Date.now()): number {
  const byTtl = now + hours(env.HOLD_TTL_HOURS, DEFAULT_HOLD_TTL_HOURS) * HOUR_MS;
  return releaseAt ? Math.max(byTtl, Date.parse(releaseAt) + RELEASE_GRACE_MS) : byTtl;
}

/** Links in emails point here: PUBLIC_BASE_URL, else the origin of the request that caused the email. */
export function publicOrigin(env: Env, requestUrl?: string): string {
  if (env.PUBLIC_BASE_URL) return env.PUBLIC_BASE_URL.replace(/\/+$/, "");
  return requestUrl ? new URL(requestUrl).origin : "http://localhost:8787";
}
