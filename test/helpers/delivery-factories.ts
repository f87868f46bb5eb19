import { env } from "cloudflare:workers";
import { enqueueRelease } from "../../src/delivery/hand-off";
import { batchHoldId } from "../../src/pools/op-ids";
import { callJson } from "./api";
import { seedBatch, uploadCsv, type ProductOptions } from "./batch-factories";

export interface ReleasedBatchOptions {
  recipients?: number;
  amount?: number;
  kind?: ProductOptions["kind"];
  channel?: "email" | "sms" | "link";
  /** Inventory codes to upload (default: one per recipient). */
  codes?: number;
  fund?: number;
  /** Leave the batch `releasing` without enqueueing the release message. */
  enqueue?: boolean;
}

/** Valid, distinct recipients; phones (fictional 555-01xx numbers) only for SMS batches, which allow at most 100. */
export function recipientsCsv(n: number, amount: number, tag = "r", withPhone = false) {
  const lines = [`external_id,name,email,${withPhone ? "phone," : ""}country,amount,currency`];
  for (let i = 0; i < n; i++) {
    const phone = withPhone ? `+1415555${String(100 + i).padStart(4, "0")},` : "";
    lines.push(`${tag}-${i},Person ${i},${tag}${i}@example.com,${phone}US,${amount},USD`);
  }
  return lines.join("\n");
}

/**
 * A validated batch put into `releasing` with its funds held, as approvals would leave it. The
 * status and hold are set directly, so these tests stand on the delivery code alone.
 */
export async function releasedBatch(org: string, opts: ReleasedBatchOptions = {}) {
  const n = opts.recipients ?? 5;
  const amount = opts.amount ?? 2_500;
  const seeded = await seedBatch(org, {
    fund: opts.fund ?? n * amount * 2,
    product: { kind: opts.kind ?? "inventory" },
    batch: { channel: opts.channel ?? "email", expected_count: n },
  });
  const { tokens, batchId, poolId, productId } = seeded;
  if ((opts.kind ?? "inventory") === "inventory") {
    const codes = Array.from({ length: opts.codes ?? n }, (_, i) => ({ code: `GIFT-${org}-${i}-${crypto.randomUUID().slice(0, 8)}`, amount }));
    for (let i = 0; i < codes.length; i += 5000) {
      const up = await callJson(`/v1/products/${productId}/codes`, { token: tokens.admin, body: { codes: codes.slice(i, i + 5000) } });
      if (up.status !== 200 && up.status !== 201) throw new Error(`codes upload failed: ${up.status} ${JSON.stringify(up.body)}`);
    }
  }
  const up = await uploadCsv(batchId, tokens.operator, recipientsCsv(n, amount, org, opts.channel === "sms"));
  if (up.status !== 200) throw new Error(`recipients upload failed: ${up.status} ${JSON.stringify(up.body)}`);
  const batch = await env.DB.prepare("SELECT status, valid_total, valid_count FROM batches WHERE id = ?")
    .bind(batchId)
    .first<{ status: string; valid_total: number; valid_count: number }>();
  if (batch?.valid_count !== n) throw new Error(`expected ${n} valid recipients, got ${JSON.stringify(batch)}`);
  const stub = env.FUNDING_POOL.get(env.FUNDING_POOL.idFromName(poolId));
  const hold = await stub.reserve({
    opId: `test-reserve:${batchId}`,
    holdId: batchHoldId(batchId),
    amount: batch.valid_total,
    expiresAt: Date.now() + 86_400_000,
    actor: "test",
  });
  if (!hold.ok) throw new Error(`reserve failed: ${hold.code}`);
  await env.DB.prepare("UPDATE batches SET status = 'releasing' WHERE id = ?").bind(batchId).run();
  if (opts.enqueue !== false) await enqueueRelease(env, org, batchId);
  return { ...seeded, stub, validTotal: batch.valid_total, n, amount };
}

/** Polls until the batch reaches one of `statuses` (the real local queue delivers in the background). */
export async function waitForBatch(batchId: string, statuses: string[], timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await env.DB.prepare("SELECT status FROM batches WHERE id = ?").bind(batchId).first<{ status: string }>();
    if (row && statuses.includes(row.status)) return row.status;
    if (Date.now() > deadline) throw new Error(`batch ${batchId} is still ${row?.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function deliveryCounts(batchId: string) {
  const { results } = await env.DB.prepare("SELECT status, COUNT(*) AS n FROM deliveries WHERE batch_id = ? GROUP BY status")
    .bind(batchId)
    .all<{ status: string; n: number }>();
  return Object.fromEntries(results.map((r) => [r.status, r.n]));
}

/**
 * The fan-out packs up to 10 delivery ids per deliver message; tests that reason per delivery
 * (one message ↔ one delivery: acks, retries, crashes) split them into single-id messages.
 */
export function onePerDelivery<M extends { type: string }>(messages: M[]): M[] {
  return messages.flatMap((m) => {
    const ids = (m as { deliveryIds?: string[] }).deliveryIds;
    if (m.type !== "deliver" || !ids) return [m];
    return ids.map((deliveryId) => {
      const { deliveryIds: _, ...rest } = m as M & { deliveryIds?: string[] };
      return { ...rest, deliveryId } as unknown as M;
    });
  });
}
