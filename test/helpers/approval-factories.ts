import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { call, callJson, token, uniqueOrg } from "./api";
import { enrolAndConfirm } from "./approver-factories";
import { orgTokens, seedBatch, uploadCsv } from "./batch-factories";

export type Step = { role: string; quorum?: number; min_total?: number };

/**
 * An org whose approvers enrolled and confirmed their address through the API: fran and fay
 * (finance), olga (owner) and otto — the operator who creates batches — who also holds the finance
 * role, to prove four-eyes (`creatorListed: false` leaves otto unenrolled).
 */
export async function approvalOrg(opts: { steps?: Step[]; autoRelease?: boolean; creatorListed?: boolean } = {}) {
  const org = uniqueOrg("apr");
  const tokens = {
    ...(await orgTokens(org)),
    operator: await token({ org, sub: "otto", roles: ["operator", "finance"] }),
    fran: await token({ org, sub: "fran", roles: ["finance"] }),
    fay: await token({ org, sub: "fay", roles: ["finance"] }),
    olga: await token({ org, sub: "olga", roles: ["owner"] }),
  };
  const emails = { fran: `fran@${org}.example.com`, fay: `fay@${org}.example.com`, olga: `olga@${org}.example.com`, otto: `otto@${org}.example.com` };
  await enrolAndConfirm(tokens.fran, emails.fran);
  await enrolAndConfirm(tokens.fay, emails.fay);
  await enrolAndConfirm(tokens.olga, emails.olga);
  if (opts.creatorListed !== false) await enrolAndConfirm(tokens.operator, emails.otto);
  const settings = await callJson("/v1/settings", {
    method: "PUT",
    token: tokens.admin,
    body: {
      approval_policy: {
        steps: opts.steps ?? [
          { role: "finance", quorum: 1 },
          { role: "owner", quorum: 1, min_total: 100_000 },
        ],
      },
      release_defaults: { auto_release: opts.autoRelease ?? true },
    },
  });
  expect(settings.status).toBe(200);
  return { org, tokens, emails };
}

/** A validated batch of `amounts` (one recipient each) created by otto; the pool holds `fund`. */
export async function validatedBatch(org: string, opts: { amounts?: number[]; fund?: number; batch?: Record<string, unknown> } = {}) {
  const seeded = await seedBatch(org, { fund: opts.fund ?? 1_000_000, batch: opts.batch });
  const operator = await token({ org, sub: "otto", roles: ["operator", "finance"] });
  const amounts = opts.amounts ?? [2500, 2500];
  const csv = ["external_id,email,country,amount", ...amounts.map((a, i) => `R${i},r${i}@example.com,US,${a}`)].join("\n");
  const up = await uploadCsv(seeded.batchId, operator, csv);
  expect(up.status).toBe(200);
  expect(up.body.batch.status).toBe("validated");
  return { ...seeded, operator, total: amounts.reduce((s, a) => s + a, 0) };
}

export async function submit(batchId: string, operatorToken: string) {
  const res = await callJson(`/v1/batches/${batchId}/submit`, { token: operatorToken, method: "POST" });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

export async function poolBalance(poolId: string, financeToken: string) {
  const res = await callJson(`/v1/pools/${poolId}`, { token: financeToken });
  expect(res.status).toBe(200);
  return res.body.balance as { available: number; reserved: number; committed: number; funded: number; released: number };
}

/** Approval links emailed to `to`, newest first, from the dev outbox. */
export async function linksTo(to: string): Promise<string[]> {
  const res = await callJson(`/dev/outbox?to=${encodeURIComponent(to)}`);
  expect(res.status).toBe(200);
  return (res.body.data as { links: string[] }[]).flatMap((m) => m.links).filter((l) => l.includes("/approve/"));
}

/** The path of the newest approval link sent to `to` (for `call`). */
export async function linkPathTo(to: string): Promise<string> {
  const [link] = await linksTo(to);
  expect(link, `an approval link to ${to}`).toBeTruthy();
  return new URL(link!).pathname;
}

/** GETs (or HEADs) a page; returns status, headers and the HTML. */
export async function page(path: string, method = "GET") {
  const res = await call(path, { method });
  return { status: res.status, html: await res.text(), res };
}

/** Posts the approval page's form. */
export async function postDecision(path: string, decision: string, comment = "") {
  const res = await call(path, {
    method: "POST",
    rawBody: new URLSearchParams({ decision, comment }).toString(),
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  return { status: res.status, html: await res.text(), res };
}

/** The statuses a batch went through, from batch_transitions. */
export async function transitions(batchId: string): Promise<string[]> {
  const { results } = await env.DB.prepare("SELECT to_status FROM batch_transitions WHERE batch_id = ? ORDER BY seq")
    .bind(batchId)
    .all<{ to_status: string }>();
  return results.map((r) => r.to_status);
}

export async function ledgerKinds(poolId: string, financeToken: string): Promise<{ kind: string; amount: number; hold_id: string | null }[]> {
  const res = await callJson(`/v1/pools/${poolId}/ledger?limit=500`, { token: financeToken });
  expect(res.status).toBe(200);
  return res.body.data;
}
