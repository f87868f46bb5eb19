import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { transitionBatch, type BatchStatus } from "../../src/batches/batch-state";
import { findBatch } from "../../src/batches/batches.service";
import { enqueueRelease } from "../../src/delivery/hand-off";
import { callJson, token } from "./api";
import { releasedBatch, waitForBatch, type ReleasedBatchOptions } from "./delivery-factories";

const APPROVAL_PATH: [BatchStatus, string][] = [
  ["submitted", "batch.submitted"],
  ["approved", "batch.approved"],
  ["releasing", "batch.released"],
];

/**
 * A batch that went validated → submitted → approved → releasing through the batch state machine
 * (the transitions approvals records), then was delivered on the local queue.
 */
export async function approvedBatch(org: string, opts: Omit<ReleasedBatchOptions, "enqueue"> & { batch?: Record<string, string> } = {}) {
  const b = await releasedBatch(org, { ...opts, enqueue: false });
  const set = Object.entries(opts.batch ?? {}).map(([k]) => `${k} = ?`);
  await env.DB.prepare(`UPDATE batches SET status = 'validated'${set.length ? `, ${set.join(", ")}` : ""} WHERE id = ?`)
    .bind(...Object.values(opts.batch ?? {}), b.batchId)
    .run();
  for (const [to, action] of APPROVAL_PATH) {
    const batch = (await findBatch(env.DB, org, b.batchId))!;
    await transitionBatch(env.DB, { batch, to, action, actor: "test-approver" });
  }
  await enqueueRelease(env, org, b.batchId);
  expect(await waitForBatch(b.batchId, ["completed", "completed_with_errors"])).toBe("completed");
  return b;
}

export const financeToken = (org: string) => token({ org, sub: "fran", roles: ["finance"] });

/** POST /v1/reconciliations; small orgs complete within the request (201). */
export async function reconcile(org: string) {
  const res = await callJson("/v1/reconciliations", { method: "POST", token: await financeToken(org) });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  expect(res.body.status).toBe("completed");
  return res.body;
}

/** The run's findings (first 500). */
export async function findingsOf(org: string, runId: string, query = "") {
  const res = await callJson(`/v1/reconciliations/${runId}?limit=500${query}`, { token: await financeToken(org) });
  expect(res.status).toBe(200);
  return res.body.data as any[];
}

export async function exceptionsFor(org: string, entityId: string) {
  const { results } = await env.DB.prepare("SELECT * FROM exceptions WHERE org = ? AND entity_id = ? ORDER BY created_at").bind(org, entityId).all<any>();
  return results;
}

export function sql(query: string, ...params: unknown[]) {
  return env.DB.prepare(query)
    .bind(...params)
    .run();
}

/** POST /v1/exceptions/{id}/resolve with action accept, as finance. */
export async function acceptException(org: string, id: string) {
  const res = await callJson(`/v1/exceptions/${id}/resolve`, { token: await financeToken(org), body: { action: "accept", note: "checked by finance" } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}
