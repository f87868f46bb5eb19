/**
 * Webhook endpoints: create (the secret shown once), list, read, update, delete, rotate the secret.
 * Every change is audited (webhook_endpoint.*), never with the secret or its ciphertext.
 */
import { appendAudit } from "../audit/audit";
import { AppError, notFound } from "../core/errors";
import { newId } from "../core/ids";
import { decodeCursor, encodeCursor } from "../core/pagination";
import type { Auth, Env } from "../env";
import { askDrain } from "./backlog";
import { checkResolvedHost } from "./dns-guard";
import { checkEndpointUrl } from "./url-guard";
import { newSecret, sealSecret, SECRET_KEY_VERSION } from "./secrets";

/** How long the secret before a rotation keeps signing (API.md: both sign for 24 h). */
export const ROTATION_OVERLAP_MS = 24 * 3600 * 1000;

export interface EndpointRow {
  id: string;
  org: string;
  url: string;
  events: string;
  description: string | null;
  enabled: number;
  disabled_reason: string | null;
  secret_ciphertext: string;
  secret_iv: string;
  key_version: number;
  previous_ciphertext: string | null;
  previous_iv: string | null;
  previous_expires_at: string | null;
  owner_sub: string;
  owner_email: string | null;
  failing_since: string | null;
  breaker_until: string | null;
  slow_lane_until: string | null;
  backlog_from_seq: number | null;
  created_at: string;
  updated_at: string;
}

export interface EndpointInput {
  url: string;
  events: string[];
  description?: string;
  owner_email?: string;
}

export function view(row: EndpointRow) {
  return {
    id: row.id,
    url: row.url,
    events: JSON.parse(row.events) as string[],
    description: row.description,
    enabled: row.enabled === 1,
    disabled_reason: row.disabled_reason,
    owner: row.owner_sub,
    owner_email: row.owner_email,
    failing_since: row.failing_since,
    secret_rotated_until: row.previous_expires_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/**
 * The SSRF guard at registration: the URL's form (url-guard.ts), then, in production, what its host
 * name resolves to (dns-guard.ts). A look-up that cannot be made lets the URL through: every send
 * checks again and does not send while it cannot.
 */
export async function guardUrl(env: Env, url: string): Promise<string> {
  const verdict = checkEndpointUrl(url, env.ENVIRONMENT);
  const dns = verdict.ok ? await checkResolvedHost(verdict.url, env.ENVIRONMENT) : null;
  const reason = !verdict.ok ? verdict.reason : dns && !dns.ok && !dns.unavailable ? dns.reason : null;
  if (reason) throw new AppError("validation_failed", `url: ${reason}`, { errors: [{ pointer: "/url", code: "url_not_allowed", detail: reason }] });
  return (verdict as { url: URL }).url.toString();
}

export async function getEndpoint(d1: D1Database, org: string, id: string): Promise<EndpointRow> {
  const row = await d1.prepare("SELECT * FROM webhook_endpoints WHERE id = ? AND org = ?").bind(id, org).first<EndpointRow>();
  if (!row) throw notFound("webhook endpoint", id);
  return row;
}

export async function createEndpoint(env: Env, auth: Auth, input: EndpointInput, requestId?: string) {
  const url = await guardUrl(env, input.url);
  const id = newId("whe");
  const secret = newSecret();
  const sealed = await sealSecret(env, auth.org, id, secret);
  const at = new Date().toISOString();
  const events = JSON.stringify([...new Set(input.events)]);
  const insert = env.DB.prepare(
    `INSERT INTO webhook_endpoints (id, org, url, events, description, enabled, secret_ciphertext, secret_iv, key_version, owner_sub, owner_email, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)`,
  ).bind(id, auth.org, url, events, input.description ?? null, sealed.ciphertext, sealed.iv, SECRET_KEY_VERSION, auth.sub, input.owner_email ?? null, at, at);
  await appendAudit(
    env.DB,
    auth.org,
    [
      {
        actor: auth.sub,
        action: "webhook_endpoint.created",
        entityType: "webhook_endpoint",
        entityId: id,
        after: { url, events: JSON.parse(events) },
        requestId,
      },
    ],
    [insert],
  );
  return { ...view(await getEndpoint(env.DB, auth.org, id)), secret };
}

export async function listEndpoints(d1: D1Database, org: string, limit: number, cursor?: string) {
  const { results } = await d1
    .prepare("SELECT * FROM webhook_endpoints WHERE org = ? AND id > ? ORDER BY id LIMIT ?")
    .bind(org, cursor ? decodeCursor(cursor, "whe") : "", limit + 1)
    .all<EndpointRow>();
  const more = results.length > limit;
  const rows = results.slice(0, limit);
  return { data: rows.map(view), next_cursor: more ? encodeCursor("whe", rows.at(-1)!.id) : null };
}

export interface EndpointPatch {
  url?: string;
  events?: string[];
  description?: string | null;
  enabled?: boolean;
  owner_email?: string | null;
}

export async function updateEndpoint(env: Env, auth: Auth, id: string, patch: EndpointPatch, requestId?: string) {
  const row = await getEndpoint(env.DB, auth.org, id);
  const url = patch.url === undefined ? row.url : await guardUrl(env, patch.url);
  const events = patch.events === undefined ? row.events : JSON.stringify([...new Set(patch.events)]);
  const enabled = patch.enabled === undefined ? row.enabled : patch.enabled ? 1 : 0;
  // Enabling again starts afresh: the failure clock, the slow lane and the reason are cleared.
  const reEnabled = enabled === 1 && row.enabled === 0;
  const at = new Date().toISOString();
  const update = env.DB.prepare(
    `UPDATE webhook_endpoints SET url = ?, events = ?, description = ?, enabled = ?, owner_email = ?, updated_at = ?,
       disabled_reason = CASE WHEN ?7 = 1 THEN NULL WHEN enabled = 1 AND ?7 = 0 THEN 'disabled by an admin' ELSE disabled_reason END,
       failing_since = CASE WHEN ?8 THEN NULL ELSE failing_since END, breaker_until = CASE WHEN ?8 THEN NULL ELSE breaker_until END,
       slow_lane_until = CASE WHEN ?8 THEN NULL ELSE slow_lane_until END
     WHERE id = ? AND org = ?`,
  ).bind(
    url,
    events,
    patch.description === undefined ? row.description : patch.description,
    enabled,
    patch.owner_email === undefined ? row.owner_email : patch.owner_email,
    at,
    enabled,
    reEnabled ? 1 : 0,
    id,
    auth.org,
  );
  const changed = { url, events: JSON.parse(events), enabled: enabled === 1 };
  await appendAudit(
    env.DB,
    auth.org,
    [
      {
        actor: auth.sub,
        action: "webhook_endpoint.updated",
        entityType: "webhook_endpoint",
        entityId: id,
        before: { url: row.url, events: JSON.parse(row.events), enabled: row.enabled === 1 },
        after: changed,
        requestId,
      },
    ],
    [update],
  );
  // Disabled by an admin: its backlog (backlog.ts) becomes failed messages, kept for `recover`.
  if (enabled === 0 && row.enabled === 1 && row.backlog_from_seq !== null) await askDrain(env, auth.org);
  return view(await getEndpoint(env.DB, auth.org, id));
}

export async function deleteEndpoint(env: Env, auth: Auth, id: string, requestId?: string) {
  const row = await getEndpoint(env.DB, auth.org, id);
  // Messages not yet sent are dropped with their endpoint; attempts stay as the record of what was sent.
  await appendAudit(
    env.DB,
    auth.org,
    [
      {
        actor: auth.sub,
        action: "webhook_endpoint.deleted",
        entityType: "webhook_endpoint",
        entityId: id,
        before: { url: row.url, events: JSON.parse(row.events) },
        requestId,
      },
    ],
    [
      env.DB.prepare("DELETE FROM webhook_endpoints WHERE id = ? AND org = ?").bind(id, auth.org),
      env.DB.prepare(
        "UPDATE webhook_messages SET status = 'failed', last_error = 'endpoint deleted', updated_at = ? WHERE endpoint_id = ? AND status IN ('pending', 'sending')",
      ).bind(new Date().toISOString(), id),
    ],
  );
}

export async function rotateSecret(env: Env, auth: Auth, id: string, requestId?: string) {
  const row = await getEndpoint(env.DB, auth.org, id);
  const secret = newSecret();
  const sealed = await sealSecret(env, auth.org, id, secret);
  const at = new Date();
  const until = new Date(at.getTime() + ROTATION_OVERLAP_MS).toISOString();
  const update = env.DB.prepare(
    `UPDATE webhook_endpoints SET previous_ciphertext = secret_ciphertext, previous_iv = secret_iv, previous_expires_at = ?,
       secret_ciphertext = ?, secret_iv = ?, key_version = ?, updated_at = ? WHERE id = ? AND org = ? AND secret_ciphertext = ?`,
  ).bind(until, sealed.ciphertext, sealed.iv, SECRET_KEY_VERSION, at.toISOString(), id, auth.org, row.secret_ciphertext);
  await appendAudit(
    env.DB,
    auth.org,
    [
      {
        actor: auth.sub,
        action: "webhook_endpoint.secret_rotated",
        entityType: "webhook_endpoint",
        entityId: id,
        after: { previous_valid_until: until },
        requestId,
      },
    ],
    [update],
  );
  return { ...view(await getEndpoint(env.DB, auth.org, id)), secret };
}
