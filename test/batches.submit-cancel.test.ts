import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { poolStub } from "../src/pools/pool-client";
import { callJson, token, uniqueOrg } from "./helpers/api";
import { batchBody, createProduct, orgTokens, uploadCsv } from "./helpers/batch-factories";
import { createPool } from "./helpers/factories";

const BATCHES = 200;
/** Batches per round: every request of a round writes the same org's audit chain, which retries a bounded number of times. */
const ROUND = 10;
const TOTAL = 2_500;

/** `n` validated batches of one 2,500 recipient each, in one funded pool, without approvers (submit needs none). */
async function validatedBatches(n: number) {
  const org = uniqueOrg("race");
  const tokens = await orgTokens(org);
  const pool = await createPool(org, { fund: n * TOTAL });
  const productId = await createProduct(tokens.admin);
  const ids: string[] = [];
  for (let i = 0; i < n; i += ROUND) {
    ids.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(ROUND, n - i) }, async () => {
          const created = await callJson("/v1/batches", { token: tokens.operator, body: batchBody(pool.id, productId) });
          expect(created.status).toBe(201);
          const up = await uploadCsv(created.body.id, tokens.operator, `external_id,email,country,amount\nR1,r1@example.com,US,${TOTAL}\n`);
          expect(up.body.batch?.status).toBe("validated");
          return created.body.id as string;
        }),
      )),
    );
  }
  return { org, tokens, poolId: pool.id, ids };
}

describe("submit racing cancel", () => {
  it("leaves no hold reserved for a cancelled batch, and a submitted batch keeps exactly its hold", { timeout: 240_000 }, async () => {
    const { org, tokens, poolId, ids } = await validatedBatches(BATCHES);
    const finance = await token({ org, sub: "fran", roles: ["finance"] });
    const answers: [number, number][] = [];
    for (let i = 0; i < ids.length; i += ROUND) {
      answers.push(
        ...(await Promise.all(
          ids.slice(i, i + ROUND).map(async (id) => {
            const [s, c] = await Promise.all([
              callJson(`/v1/batches/${id}/submit`, { token: tokens.operator, method: "POST" }),
              callJson(`/v1/batches/${id}/cancel`, { token: finance, body: {} }),
            ]);
            return [s.status, c.status] as [number, number];
          }),
        )),
      );
    }
    const stub = poolStub(env, poolId);
    let submitted = 0;
    for (const [i, id] of ids.entries()) {
      const status = (await callJson(`/v1/batches/${id}`, { token: tokens.operator })).body.status;
      const hold = await stub.getHold(`hold_${id}`);
      const reserved = hold?.state === "pending" ? hold.remaining : 0;
      expect(["submitted", "cancelled"], id).toContain(status);
      // Exactly one of the two calls won; the other answered 409.
      expect(answers[i]!.slice().sort(), id).toEqual([200, 409]);
      if (status === "cancelled") expect(reserved, `${id} cancelled, hold ${JSON.stringify(hold)}`).toBe(0);
      else {
        submitted++;
        expect(hold, id).toMatchObject({ state: "pending", remaining: TOTAL, amount: TOTAL, committed: 0 });
      }
    }
    const balance = (await callJson(`/v1/pools/${poolId}`, { token: finance })).body.balance;
    expect(balance).toMatchObject({ reserved: submitted * TOTAL, available: (BATCHES - submitted) * TOTAL, committed: 0 });
    expect((await stub.checkIntegrity()).ok).toBe(true);
  });
});
