import { env } from "cloudflare:workers";
import { listAudit } from "../../src/audit/audit.query";
import { SETTLED_ACTION, type SettledEntry } from "../../src/audit/settlement";
import { revealCodes } from "../../src/delivery/rewards";
import { callJson, token } from "./api";
import { releasedBatch, waitForBatch, type ReleasedBatchOptions } from "./delivery-factories";

/** Tokens of one org for the support tests (sub differs per role so four-eyes can be checked). */
export async function supportTokens(org: string) {
  return {
    support: await token({ org, sub: "sue", roles: ["support"] }),
    operator: await token({ org, sub: "otto", roles: ["operator"] }),
    finance: await token({ org, sub: "fran", roles: ["finance"] }),
    integrator: await token({ org, sub: "int-client", roles: ["integrator"] }),
    auditor: await token({ org, sub: "aud", roles: ["auditor"] }),
    admin: await token({ org, sub: "ada", roles: ["admin"] }),
  };
}

/** A batch that delivered itself on the real local queue, with its delivery ids in row order. */
export async function deliveredBatch(org: string, opts: ReleasedBatchOptions = {}) {
  const seeded = await releasedBatch(org, opts);
  await waitForBatch(seeded.batchId, ["completed", "completed_with_errors"]);
  const { results } = await env.DB.prepare(
    "SELECT d.id FROM deliveries d JOIN batch_recipients r ON r.id = d.recipient_id WHERE d.batch_id = ? ORDER BY r.row_no",
  )
    .bind(seeded.batchId)
    .all<{ id: string }>();
  return { ...seeded, ids: results.map((r) => r.id), tokens: await supportTokens(org) };
}

/** The plain codes of the given deliveries, decrypted the way the sender does it (to prove they never leak). */
export async function plainCodes(org: string, ids: string[]): Promise<string[]> {
  const { results } = await env.DB.prepare("SELECT id, code_id, card_id FROM deliveries WHERE id IN (SELECT value FROM json_each(?))")
    .bind(JSON.stringify(ids))
    .all<{ id: string; code_id: string | null; card_id: string | null }>();
  const codes = await revealCodes(
    env,
    org,
    results.map((r) => ({ deliveryId: r.id, codeId: r.code_id, cardId: r.card_id })),
  );
  return [...codes.values()].map((c) => c.code);
}

export async function poolBalance(poolId: string) {
  const stub = env.FUNDING_POOL.get(env.FUNDING_POOL.idFromName(poolId));
  const b = (await stub.getBalance()) as { balance: Record<string, number> };
  return b.balance;
}

/**
 * An entity's audit history, oldest first, as GET /v1/audit?entity_id= reads it. A delivery run's
 * settlement event (which names many deliveries) reads as `delivery.<status>` of this delivery.
 */
export async function auditActions(org: string, entityId: string): Promise<string[]> {
  const { data } = await listAudit(env.DB, org, { entityId }, 500);
  return data.reverse().map((e) => {
    if (e.action !== SETTLED_ACTION) return e.action;
    const entry = (e.after as { deliveries: SettledEntry[] }).deliveries.find(([id]) => id === entityId);
    return `delivery.${entry?.[1]}`;
  });
}

export const getDelivery = (id: string, tok: string) => callJson(`/v1/deliveries/${id}`, { token: tok });
