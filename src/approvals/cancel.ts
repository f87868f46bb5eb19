/**
 * Cancel: from draft or validated (nothing reserved, though a stray hold from an interrupted submit
 * is released too) and from submitted or approved, where the hold's rest goes back to the pool once.
 */
import { exitBatch } from "./exit";
import type { Auth, Env } from "../env";
import { batchView, requireBatch } from "../batches/batches.service";

export async function cancelBatch(env: Env, auth: Auth, id: string, reason: string | undefined, requestId?: string) {
  const batch = await requireBatch(env.DB, auth.org, id);
  await exitBatch(env, { batch, to: "cancelled", actor: auth.sub, requestId, details: { reason: reason ?? null } });
  return batchView(await requireBatch(env.DB, auth.org, id));
}
