/** Org settings: read with defaults, replaced as a whole by admins, every change audited. */
import { eq } from "drizzle-orm";
import { appendAudit } from "../audit/audit";
import { AppError } from "../core/errors";
import { isGuardFailure, requireChanged } from "../core/guard";
import { createDb } from "../db/client";
import { orgSettings } from "../db/schema";
import type { Auth, Env } from "../env";
import { DEFAULT_SETTINGS, SettingsInput, type Settings } from "./settings.schema";

export interface SettingsView extends Settings {
  version: number;
  updated_by: string | null;
  updated_at: string | null;
}

/** The org's settings; an org that never saved any gets the defaults (version 0). */
export async function getSettings(d1: D1Database, org: string): Promise<SettingsView> {
  const [row] = await createDb(d1).select().from(orgSettings).where(eq(orgSettings.org, org)).limit(1);
  if (!row) return { ...DEFAULT_SETTINGS, version: 0, updated_by: null, updated_at: null };
  // Stored documents are re-read through the schema so fields added later get their defaults;
  // `approvers` was a setting before enrolment (migration 0016 removes it) and is never read.
  const { approvers: _dropped, ...stored } = JSON.parse(row.settings) as Record<string, unknown>;
  const settings = SettingsInput.parse(stored);
  return { ...settings, version: row.version, updated_by: row.updatedBy, updated_at: row.updatedAt };
}

/**
 * Replaces the settings document. The version check makes two racing admins fail cleanly (409)
 * instead of one silently overwriting the other; batches read settings when they validate, and a submitted
 * batch keeps the policy it was submitted under, so nothing here rewrites existing batches.
 */
export async function putSettings(env: Env, auth: Auth, input: Settings, opts: { expectedVersion?: number; requestId?: string } = {}): Promise<SettingsView> {
  const { expectedVersion, requestId } = opts;
  const before = await getSettings(env.DB, auth.org);
  if (expectedVersion !== undefined && expectedVersion !== before.version) {
    throw new AppError(
      "conflict",
      `The settings are at version ${before.version}, not ${expectedVersion}: someone saved them meanwhile; read them again and retry`,
    );
  }
  const now = new Date().toISOString();
  const version = before.version + 1;
  const upsert = env.DB.prepare(
    `INSERT INTO org_settings (org, settings, version, updated_by, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (org) DO UPDATE SET settings = ?2, version = ?3, updated_by = ?4, updated_at = ?5
     WHERE org_settings.version = ?3 - 1`,
  ).bind(auth.org, JSON.stringify(input), version, auth.sub, now);
  const { version: _v, updated_by: _b, updated_at: _a, ...previous } = before;
  try {
    await appendAudit(
      env.DB,
      auth.org,
      [{ actor: auth.sub, action: "settings.updated", entityType: "settings", entityId: auth.org, before: previous, after: input, requestId }],
      [upsert, requireChanged(env.DB)],
    );
  } catch (err) {
    if (isGuardFailure(err)) throw new AppError("conflict", "The settings were changed by someone else meanwhile; read them again and retry");
    throw err;
  }
  return { ...input, version, updated_by: auth.sub, updated_at: now };
}
