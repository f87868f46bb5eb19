/**
 * Benchmark-only route (404 unless ENVIRONMENT is "bench"): the plain conditional UPDATE that
 * `npm run bench -- redemptions` prints beside the card ledger, the one-statement answer to double
 * spend that a card without a ledger would use. `{ seed: n }` creates n balances of `balance` each
 * in a table of its own (never the cards' mirror); `{ id, amount }` spends from one of them with
 * `UPDATE ... SET balance = balance - ? WHERE id = ? AND balance >= ?` and says whether it could.
 * It goes through the same HTTP socket and Worker as POST /v1/redemptions, without the API around it.
 */
import type { Env } from "../env";

export const PROBE_PATH = "/dev/bench/redemption-probe";

interface ProbeRequest {
  seed?: number;
  balance?: number;
  id?: string;
  amount?: number;
}

export async function redemptionProbe(request: Request, env: Env): Promise<Response> {
  const body = await request.json<ProbeRequest>();
  if (body.seed !== undefined) {
    await env.DB.batch([
      env.DB.prepare("DROP TABLE IF EXISTS bench_probe"),
      env.DB.prepare("CREATE TABLE bench_probe (id TEXT PRIMARY KEY, balance INTEGER NOT NULL)"),
      env.DB.prepare(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1) INSERT INTO bench_probe SELECT 'p' || i, ?2 FROM n",
      ).bind(body.seed, body.balance ?? 1_000_000),
    ]);
    return Response.json({ seeded: body.seed });
  }
  const r = await env.DB.prepare("UPDATE bench_probe SET balance = balance - ?1 WHERE id = ?2 AND balance >= ?1").bind(body.amount, body.id).run();
  return Response.json({ ok: r.meta.changes === 1, rows_written: r.meta.rows_written });
}
