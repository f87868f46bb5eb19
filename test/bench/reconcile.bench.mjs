// Reconciliation of one large org, end to end through the HTTP API of the local Worker:
//   seed BENCH_DELIVERIES (default 100,000) delivered deliveries across BENCH_BATCHES (default 100)
//   approved, completed batches — straight into D1 with big json_each / recursive-CTE inserts
//   (recipients, deliveries, inventory codes for half the batches, stored-value cards for the
//   other half) — and the matching pool state in the FundingPool DO through its RPC methods
//   (reserve, commit 1,000 items per call, release; the journal mirrored to D1). Then
//   POST /v1/reconciliations as finance and poll the run until it completes. The time is from the
//   POST to completion; rows/s = rows the run scanned (DO journal + D1 mirror entries, batches,
//   deliveries, codes) per second. The run's progress shows how the work was paged.
import { devToken, startWorker } from "./worker.mjs";

const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 100_000);
const BATCHES = Number(process.env.BENCH_BATCHES ?? 100);
const PER_BATCH = Math.ceil(DELIVERIES / BATCHES);
const ORG = "bench-recon";

const worker = await startWorker();
try {
  const finance = await devToken({ org: ORG, sub: "fran", roles: ["finance"] });
  const admin = await devToken({ org: ORG, sub: "ada", roles: ["admin"] });
  const api = async (token, method, path, body) => {
    const res = await fetch(`${worker.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body && JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(json)}`);
    return { status: res.status, body: json };
  };
  const amountOf = (b, i) => 1000 + ((b * 7 + i) % 40) * 25;

  let t = Date.now();
  const pool = (await api(finance, "POST", "/v1/pools", { name: "Bench pool", currency: "USD" })).body;
  const total = Array.from({ length: BATCHES }, (_, b) => Array.from({ length: PER_BATCH }, (_, i) => amountOf(b, i)).reduce((s, a) => s + a, 0)).reduce(
    (s, a) => s + a,
    0,
  );
  await api(finance, "POST", `/v1/pools/${pool.id}/fund`, { amount: total, reference: "bench" });
  const product = async (kind) =>
    (await api(admin, "POST", "/v1/products", { name: `Bench ${kind}`, kind, currency: "USD", min_amount: 100, max_amount: 100_000, countries: ["US"] })).body
      .id;
  const products = { inventory: await product("inventory"), stored_value: await product("stored_value") };
  await api(admin, "PUT", "/v1/settings", { prior_payout_window_days: 30 });

  const batches = Array.from({ length: BATCHES }, (_, b) => {
    const kind = b % 2 === 0 ? "inventory" : "stored_value";
    return {
      id: `bat_bench${String(b).padStart(4, "0")}`,
      b,
      kind,
      product: products[kind],
      channel: kind === "inventory" ? "email" : "link",
      total: Array.from({ length: PER_BATCH }, (_, i) => amountOf(b, i)).reduce((s, a) => s + a, 0),
    };
  });
  await seedD1(worker.mf, batches, pool.id);
  const d1Seconds = (Date.now() - t) / 1000;

  t = Date.now();
  const ns = await worker.mf.getDurableObjectNamespace("FUNDING_POOL");
  const stub = ns.get(ns.idFromName(pool.id));
  const expiresAt = Date.now() + 86_400_000;
  for (const batch of batches) {
    const holdId = `hold_${batch.id}`;
    const r = await stub.reserve({ opId: `reserve_${holdId}`, holdId, amount: batch.total, expiresAt, actor: "bench" });
    if (!r.ok) throw new Error(`reserve: ${r.code} ${r.detail}`);
    for (let from = 0; from < PER_BATCH; from += 1000) {
      const items = Array.from({ length: Math.min(1000, PER_BATCH - from) }, (_, k) => {
        const i = from + k;
        return { id: deliveryId(batch.b, i), amount: amountOf(batch.b, i), recipientKey: `p${batch.b}-${i}@bench.example.com` };
      });
      const c = await stub.commit({ holdId, items, actor: "system:delivery" });
      if (!c.ok || c.items.some((x) => x.status !== "committed")) throw new Error("commit refused");
    }
    const rel = await stub.release({ opId: `batch-end:${batch.id}`, holdId, amount: "rest", actor: "system:delivery" });
    if (!rel.ok) throw new Error(`release: ${rel.code}`);
  }
  const mirrored = await stub.syncMirror();
  const doSeconds = (Date.now() - t) / 1000;
  console.log(`runtime: ${worker.runtime}`);
  console.log(
    `seeded: ${BATCHES} batches × ${PER_BATCH} = ${BATCHES * PER_BATCH} delivered deliveries (${BATCHES / 2} inventory batches with codes, ${BATCHES / 2} stored-value with cards), D1 in ${d1Seconds.toFixed(1)} s; pool DO ${BATCHES} holds + ${BATCHES * PER_BATCH} committed items in ${doSeconds.toFixed(1)} s (${mirrored} journal entries left to mirror)`,
  );

  t = Date.now();
  const started = await api(finance, "POST", "/v1/reconciliations");
  let run = started.body;
  while (run.status === "running") {
    await new Promise((r) => setTimeout(r, 50));
    run = (await api(finance, "GET", `/v1/reconciliations/${run.id}?limit=1`)).body.run;
  }
  const seconds = (Date.now() - t) / 1000;
  if (run.status !== "completed") throw new Error(`run ${run.id} ended ${run.status} in phase ${run.phase}: ${run.error}`);
  const p = run.progress;
  console.log(
    `POST /v1/reconciliations answered ${started.status} (${started.body.status} after ${started.body.progress.steps} steps in the request); the queue carried on`,
  );
  console.log(`paging: ${p.steps} steps over ${p.invocations} invocations; at most ${p.max_rows_per_step} rows and ${p.max_step_ms} ms in one step`);
  for (const [phase, s] of Object.entries(p.phases))
    console.log(`  ${phase.padEnd(10)} ${String(s.steps).padStart(3)} steps ${String(s.rows).padStart(8)} rows ${String(s.ms).padStart(6)} ms`);
  console.log(`findings: ${run.findings.total} ${JSON.stringify(run.findings.by_kind)}; totals ${JSON.stringify(run.totals)}`);
  const rowsPerS = p.rows_scanned / seconds;
  console.log(
    `full reconciliation: ${p.rows_scanned} rows scanned in ${seconds.toFixed(2)} s → ${Math.round(rowsPerS)} rows/s (target: ${BATCHES * PER_BATCH} deliveries in ≤ 10 s)`,
  );
  if (run.findings.total !== 0) throw new Error("a consistent org should reconcile without findings");
  console.log(
    JSON.stringify({
      bench: "reconcile",
      seconds: Number(seconds.toFixed(2)),
      rows_per_s: Math.round(rowsPerS),
      deliveries: BATCHES * PER_BATCH,
      steps: p.steps,
      invocations: p.invocations,
      runtime: "miniflare",
    }),
  );
} finally {
  await worker.dispose();
}

function deliveryId(b, i) {
  return `dlv_b${String(b).padStart(4, "0")}r${String(i).padStart(6, "0")}`;
}

/** Batches, transitions, recipients, deliveries, codes and cards, a few statements per table. */
async function seedD1(mf, batches, poolId) {
  const db = await mf.getD1Database("DB");
  const now = new Date().toISOString();
  const at = (minutes) => new Date(Date.now() - minutes * 60_000).toISOString();
  const rows = JSON.stringify(batches.map((x) => ({ ...x, pad: String(x.b).padStart(4, "0") })));
  const counter = `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${PER_BATCH - 1})`;
  const amount = `(1000 + ((CAST(b.value ->> 'b' AS INTEGER) * 7 + n.i) % 40) * 25)`;
  const rid = `('b' || (b.value ->> 'pad') || 'r' || substr('000000' || n.i, -6))`;
  await db.batch([
    db
      .prepare(
        `INSERT INTO batches (id, ref, org, name, campaign, business_owner, cost_center, expected_delivery_date, expected_count, pool_id, product_id, channel, currency,
         status, state_version, rows_total, valid_count, valid_total, created_by, created_at, updated_at, released_at)
       SELECT value ->> 'id', (SELECT coalesce(max(ref), 0) FROM batches) + 1 + key, ?1, 'Bench ' || (value ->> 'b'), 'bench-' || ((value ->> 'b') % 5), 'Bench Owner', 'CC-' || ((value ->> 'b') % 3), '2026-12-01', ?3,
              ?2, value ->> 'product', value ->> 'channel', 'USD', 'completed', 6, ?3, ?3, value ->> 'total', 'otto', ?4, ?5, ?4 FROM json_each(?6)`,
      )
      .bind(ORG, poolId, PER_BATCH, at(90), now, rows),
    db
      .prepare(
        `INSERT INTO batch_transitions (batch_id, seq, org, from_status, to_status, action, actor, created_at)
       SELECT b.value ->> 'id', t.seq, ?1, t.f, t.t, t.a, 'fran', ?2 FROM json_each(?3) b,
         (SELECT 2 AS seq, 'validated' AS f, 'submitted' AS t, 'batch.submitted' AS a UNION ALL SELECT 3, 'submitted', 'approved', 'batch.approved'
          UNION ALL SELECT 4, 'approved', 'releasing', 'batch.released' UNION ALL SELECT 5, 'releasing', 'delivering', 'batch.delivery_started'
          UNION ALL SELECT 6, 'delivering', 'completed', 'batch.completed') t`,
      )
      .bind(ORG, at(60), rows),
  ]);
  for (let k = 0; k < batches.length; k += 10) {
    const slice = JSON.stringify(batches.slice(k, k + 10).map((x) => ({ ...x, pad: String(x.b).padStart(4, "0") })));
    await db.batch([
      db
        .prepare(
          `${counter} INSERT INTO batch_recipients (id, batch_id, batch_ref, org, row_no, upload_id, external_id, email, country, amount, currency, email_key, status, reasons)
         SELECT 'rcp_' || ${rid}, b.value ->> 'id', (SELECT ref FROM batches WHERE id = b.value ->> 'id'), ?1, n.i + 1, 'upl_bench', 'E' || n.i, 'p' || (b.value ->> 'b') || '-' || n.i || '@bench.example.com', 'US',
                ${amount}, 'USD', 'p' || (b.value ->> 'b') || '-' || n.i || '@bench.example.com', 'valid', '[]' FROM json_each(?2) b, n`,
        )
        .bind(ORG, slice),
      db
        .prepare(
          `${counter} INSERT INTO deliveries (id, org, batch_id, recipient_id, pool_id, product_id, channel, amount, currency, status, item, committed, code_id, card_id,
           attempts, created_at, updated_at, delivered_at)
         SELECT 'dlv_' || ${rid}, ?1, b.value ->> 'id', 'rcp_' || ${rid}, ?2, b.value ->> 'product', b.value ->> 'channel', ${amount}, 'USD', 'delivered', 'dlv_' || ${rid}, 1,
                CASE WHEN b.value ->> 'kind' = 'inventory' THEN 'cod_' || ${rid} END, CASE WHEN b.value ->> 'kind' = 'stored_value' THEN 'card_' || ${rid} END,
                1, ?3, ?4, ?4 FROM json_each(?5) b, n`,
        )
        .bind(ORG, poolId, at(30), at(29), slice),
      db
        .prepare(
          `${counter} INSERT INTO inventory_codes (id, org, product_id, amount, ciphertext, iv, key_version, code_hmac, status, delivery_id, upload_id, created_at, assigned_at)
         SELECT 'cod_' || ${rid}, ?1, b.value ->> 'product', ${amount}, 'x', 'x', 1, 'hmac-' || ${rid}, 'assigned', 'dlv_' || ${rid}, 'upl_bench', ?2, ?3
         FROM json_each(?4) b, n WHERE b.value ->> 'kind' = 'inventory'`,
        )
        .bind(ORG, at(100), at(29), slice),
      db
        .prepare(
          `${counter} INSERT INTO cards (id, org, product_id, delivery_id, currency, initial_amount, balance, ciphertext, iv, key_version, code_hmac, status, created_at)
         SELECT 'card_' || ${rid}, ?1, b.value ->> 'product', 'dlv_' || ${rid}, 'USD', ${amount}, ${amount}, 'x', 'x', 1, 'card-hmac-' || ${rid}, 'active', ?2
         FROM json_each(?3) b, n WHERE b.value ->> 'kind' = 'stored_value'`,
        )
        .bind(ORG, at(29), slice),
    ]);
  }
}
