/** The suppression list: recipients (by normalised email or E.164 phone) who must never be paid. */
import { and, desc, eq, lt } from "drizzle-orm";
import { appendAudit } from "../audit/audit";
import { emailKey, isValidEmail, toE164 } from "../core/contacts";
import { AppError, notFound, type FieldError } from "../core/errors";
import { newId } from "../core/ids";
import { decodeCursor, encodeCursor } from "../core/pagination";
import { createDb } from "../db/client";
import { suppressions } from "../db/schema";
import type { Auth, Env } from "../env";

export interface SuppressionEntry {
  email?: string;
  phone?: string;
  country?: string;
  reason: string;
}

export interface SuppressionView {
  id: string;
  kind: "email" | "phone";
  value: string;
  reason: string;
  created_by: string;
  created_at: string;
}

type Row = typeof suppressions.$inferSelect;
const view = (r: Row): SuppressionView => ({ id: r.id, kind: r.kind, value: r.value, reason: r.reason, created_by: r.createdBy, created_at: r.createdAt });

/** Normalises every entry or refuses the request, naming each bad entry. */
function normaliseEntries(entries: SuppressionEntry[]): { kind: "email" | "phone"; value: string; reason: string }[] {
  const errors: FieldError[] = [];
  const out = entries.map((e, i) => {
    if (e.email !== undefined) {
      const email = e.email.trim();
      if (!isValidEmail(email)) errors.push({ pointer: `/entries/${i}/email`, code: "email_invalid", detail: "Not a valid email address" });
      return { kind: "email" as const, value: emailKey(email), reason: e.reason };
    }
    const phone = toE164(e.phone!.trim(), e.country);
    if (!phone) errors.push({ pointer: `/entries/${i}/phone`, code: "phone_invalid", detail: "Not a valid phone number (use E.164 or give country)" });
    return { kind: "phone" as const, value: phone ?? "", reason: e.reason };
  });
  if (errors.length) throw new AppError("validation_failed", "Some entries are not valid", { errors });
  return out;
}

/** Adds entries; one already on the list is left as it was and returned, so a retry is harmless. */
export async function addSuppressions(env: Env, auth: Auth, entries: SuppressionEntry[], requestId?: string): Promise<SuppressionView[]> {
  const normalised = normaliseEntries(entries);
  const now = new Date().toISOString();
  const rows = normalised.map((e) => ({ id: newId("sup"), ...e }));
  const insert = env.DB.prepare(
    `INSERT INTO suppressions (id, org, kind, value, reason, created_by, created_at)
     SELECT value ->> 'id', ?1, value ->> 'kind', value ->> 'value', value ->> 'reason', ?2, ?3 FROM json_each(?4)
     WHERE true ON CONFLICT (org, kind, value) DO NOTHING`,
  ).bind(auth.org, auth.sub, now, JSON.stringify(rows));
  await appendAudit(
    env.DB,
    auth.org,
    [{ actor: auth.sub, action: "suppressions.added", entityType: "suppression", entityId: auth.org, after: { entries: normalised }, requestId }],
    [insert],
  );
  const found = await env.DB.prepare(
    `SELECT s.* FROM suppressions s JOIN json_each(?2) j ON s.kind = j.value ->> 'kind' AND s.value = j.value ->> 'value' WHERE s.org = ?1`,
  )
    .bind(auth.org, JSON.stringify(normalised))
    .all<Record<string, string>>();
  const byKey = new Map(found.results.map((r) => [`${r.kind}:${r.value}`, r]));
  return normalised.map((e) => {
    const r = byKey.get(`${e.kind}:${e.value}`)!;
    return { id: r.id!, kind: e.kind, value: e.value, reason: r.reason!, created_by: r.created_by!, created_at: r.created_at! };
  });
}

export async function listSuppressions(d1: D1Database, org: string, limit: number, cursor?: string) {
  const after = cursor ? decodeCursor(cursor, "sup") : undefined;
  const rows = await createDb(d1)
    .select()
    .from(suppressions)
    .where(and(eq(suppressions.org, org), after ? lt(suppressions.id, after) : undefined))
    .orderBy(desc(suppressions.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  return { data: page.map(view), next_cursor: rows.length > limit ? encodeCursor("sup", page.at(-1)!.id) : null };
}

export async function deleteSuppression(env: Env, auth: Auth, id: string, requestId?: string): Promise<void> {
  const db = createDb(env.DB);
  const [row] = await db
    .select()
    .from(suppressions)
    .where(and(eq(suppressions.org, auth.org), eq(suppressions.id, id)))
    .limit(1);
  if (!row) throw notFound("suppression", id);
  await appendAudit(
    env.DB,
    auth.org,
    [{ actor: auth.sub, action: "suppression.deleted", entityType: "suppression", entityId: id, before: view(row), requestId }],
    [env.DB.prepare("DELETE FROM suppressions WHERE org = ? AND id = ?").bind(auth.org, id)],
  );
}

/** Which of these email and phone keys are suppressed in the org: a set of `email:key` / `phone:key`. */
export async function suppressedKeys(d1: D1Database, org: string, emailKeys: string[], phoneKeys: string[]): Promise<Set<string>> {
  if (emailKeys.length === 0 && phoneKeys.length === 0) return new Set();
  const { results } = await d1
    .prepare(
      `SELECT kind, value FROM suppressions WHERE org = ?1 AND kind = 'email' AND value IN (SELECT value FROM json_each(?2))
       UNION ALL SELECT kind, value FROM suppressions WHERE org = ?1 AND kind = 'phone' AND value IN (SELECT value FROM json_each(?3))`,
    )
    .bind(org, JSON.stringify(emailKeys), JSON.stringify(phoneKeys))
    .all<{ kind: string; value: string }>();
  return new Set(results.map((r) => `${r.kind}:${r.value}`));
}
