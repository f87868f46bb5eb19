// One day of a birthday campaign over BENCH_CUSTOMERS (default 1,000,000) customer profiles, end to
// end on the local Worker: profiles and their month-day rows are bulk-inserted straight into D1
// (recursive-CTE inserts, birthdays spread over 60 years, time zones from Kiritimati to Pago Pago);
// then a campaign { kind: "date_attribute", attribute: "birthday" } is created and activated through
// the API and its schedule is set to start at day D. The bench plays the cron: a tick at D 00:00 UTC
// (D begins in the org's zone) starts D's run, and a tick at each instant some waiting customers'
// local day begins (west of UTC) sends their group; after each tick it waits for the schedules queue to finish. It
// prints the run's paging and the D1 rows read per rewarded customer: by the audience reads (the
// target: ≤ 3, never the table) and by everything the run's tick and consumer did (evaluations too).
import { devToken, startWorker } from "./worker.mjs";

const CUSTOMERS = Number(process.env.BENCH_CUSTOMERS ?? 1_000_000);
const ORG = "bench-schedules";
const YEAR = new Date().getUTCFullYear() + 1;
const DAY = process.env.BENCH_DAY ?? `${YEAR}-06-15`;
const CHUNK = 100_000;
// Share per mille of each time zone (NULL: the org's, UTC).
const ZONES = [
  [null, 700],
  ["America/New_York", 100],
  ["Europe/Paris", 100],
  ["Asia/Tokyo", 50],
  ["Pacific/Kiritimati", 25],
  ["Pacific/Pago_Pago", 25],
];

const worker = await startWorker();
try {
  const tokens = {
    admin: await devToken({ org: ORG, sub: "ada", roles: ["admin"] }),
    finance: await devToken({ org: ORG, sub: "fran", roles: ["finance"] }),
    operator: await devToken({ org: ORG, sub: "otto", roles: ["operator"] }),
  };
  const api = async (token, method, path, body) => {
    const res = await fetch(`${worker.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body && JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const db = await worker.mf.getD1Database("DB");

  let t = Date.now();
  await seedCustomers(db);
  const seedSeconds = (Date.now() - t) / 1000;
  const monthDays = DAY.slice(5) === "02-28" ? ["02-28", "02-29"] : [DAY.slice(5)];
  const birthdays = (
    await db
      .prepare(`SELECT COUNT(*) AS n FROM customer_dates WHERE org = ?1 AND attribute = 'birthday' AND month_day IN (SELECT value FROM json_each(?2))`)
      .bind(ORG, JSON.stringify(monthDays))
      .first()
  ).n;
  console.log(`runtime: ${worker.runtime}`);
  console.log(`seeded: ${CUSTOMERS} customers and their birthday rows in ${seedSeconds.toFixed(1)} s; ${birthdays} have their birthday on ${DAY}`);

  const pool = await api(tokens.finance, "POST", "/v1/pools", { name: "Birthdays", currency: "USD" });
  await api(tokens.finance, "POST", `/v1/pools/${pool.id}/fund`, { amount: 100_000_000, reference: "bench" });
  const product = await api(tokens.admin, "POST", "/v1/products", {
    name: "Birthday card",
    kind: "stored_value",
    currency: "USD",
    min_amount: 100,
    max_amount: 100_000,
    countries: ["US"],
  });
  const campaign = await api(tokens.operator, "POST", "/v1/campaigns", {
    name: "Happy birthday",
    trigger: { kind: "date_attribute", attribute: "birthday" },
    reward: { product_id: product.id, channel: "email", amount: 1000, expires_after_days: 30 },
    pool_id: pool.id,
    budget: { amount: 50_000_000 },
  });
  await api(tokens.finance, "POST", `/v1/campaigns/${campaign.id}/activate`);
  // The campaign starts with day D, whose run is due when D begins in the org's time zone (UTC).
  const dueAt = new Date(`${DAY}T00:00:00Z`).toISOString();
  await db.prepare("UPDATE campaign_schedules SET next_occurrence = ?2, next_at = ?3 WHERE campaign_id = ?1").bind(campaign.id, DAY, dueAt).run();
  await fetch(`${worker.url}/dev/bench/metrics?reset`);

  const tick = async (at) => {
    const r = await fetch(`${worker.url}/dev/bench/schedules/tick?at=${encodeURIComponent(at)}`, { method: "POST" });
    if (!r.ok) throw new Error(`tick ${at} → ${r.status} ${await r.text()}`);
    const result = await r.json();
    for (;;) {
      const busy = await db
        .prepare(
          `SELECT (SELECT COUNT(*) FROM campaign_runs WHERE campaign_id = ?1 AND status = 'running')
                + (SELECT COUNT(*) FROM campaign_run_waits WHERE campaign_id = ?1 AND claimed_until IS NOT NULL) AS n`,
        )
        .bind(campaign.id)
        .first();
      if (busy.n === 0) return result;
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  t = Date.now();
  const first = await tick(dueAt);
  const firstSeconds = (Date.now() - t) / 1000;
  // Only day D is measured: its run started, the schedule's next occurrence is pushed out of the way.
  await db.prepare("UPDATE campaign_schedules SET next_at = '9999' WHERE campaign_id = ?").bind(campaign.id).run();
  let run = await db.prepare("SELECT * FROM campaign_runs WHERE campaign_id = ? AND occurrence = ?").bind(campaign.id, DAY).first();
  console.log(
    `tick ${dueAt}: started ${first.started} run; ${run.step} pages of ≤ 50 in ${firstSeconds.toFixed(1)} s → ${run.rewarded} rewarded now (their day has begun), ${run.waiting} waiting, ${run.missed} missed`,
  );
  const { results: dues } = await db.prepare("SELECT DISTINCT due_at FROM campaign_run_waits WHERE campaign_id = ? ORDER BY due_at").bind(campaign.id).all();
  let waitMessages = 0;
  for (const { due_at } of dues) {
    const before = (await db.prepare("SELECT rewarded FROM campaign_runs WHERE campaign_id = ? AND occurrence = ?").bind(campaign.id, DAY).first()).rewarded;
    const r = await tick(due_at);
    waitMessages += r.waits;
    const after = (await db.prepare("SELECT rewarded FROM campaign_runs WHERE campaign_id = ? AND occurrence = ?").bind(campaign.id, DAY).first()).rewarded;
    console.log(`tick ${due_at}: ${r.waits} waiting groups sent → ${after - before} rewarded`);
  }
  const seconds = (Date.now() - t) / 1000;
  run = await db.prepare("SELECT * FROM campaign_runs WHERE campaign_id = ? AND occurrence = ?").bind(campaign.id, DAY).first();
  const m = await (await fetch(`${worker.url}/dev/bench/metrics`)).json();
  const s = m.schedules;
  const rewarded = run.rewarded;
  const per = (x) => Number((x / Math.max(rewarded, 1)).toFixed(3));
  console.log(
    `run of ${DAY}: ${run.evaluated} evaluated, ${rewarded} rewarded, ${run.skipped} skipped, ${run.missed} missed, ${run.waiting} still waiting; ${run.step} pages + ${waitMessages} waiting groups in ${seconds.toFixed(1)} s`,
  );
  console.log(
    `audience rows read: ${run.rows_read} (${per(run.rows_read)} per reward; target ≤ 3, the table has ${CUSTOMERS} profiles and ${CUSTOMERS} date rows)`,
  );
  console.log(
    `everything the ticks and the schedules consumer did: ${s.d1_queries} D1 queries, ${s.d1_rows_read} rows read, ${s.d1_rows_written} written (${per(s.d1_rows_read)} read and ${per(s.d1_rows_written)} written per reward, evaluations included); ${s.do_calls} pool DO calls`,
  );
  if (rewarded !== birthdays) throw new Error(`expected ${birthdays} rewards, got ${rewarded}`);
  console.log(
    JSON.stringify({
      bench: "schedules",
      customers: CUSTOMERS,
      day: DAY,
      birthdays,
      rewarded,
      pages: run.step,
      wait_groups: waitMessages,
      seconds: Number(seconds.toFixed(1)),
      audience_rows_read: run.rows_read,
      audience_rows_read_per_reward: per(run.rows_read),
      d1_rows_read_per_reward: per(s.d1_rows_read),
      d1_rows_written_per_reward: per(s.d1_rows_written),
      d1_queries_per_reward: per(s.d1_queries),
      runtime: "miniflare",
    }),
  );
} finally {
  await worker.dispose();
}

/** Profiles and their birthday rows, CHUNK customers per statement pair. */
async function seedCustomers(db) {
  const now = new Date().toISOString();
  let zoneCase = "CASE";
  let acc = 0;
  for (const [zone, share] of ZONES) {
    acc += share;
    zoneCase += ` WHEN (i * 7) % 1000 < ${acc} THEN ${zone === null ? "NULL" : `'${zone}'`}`;
  }
  zoneCase += " END";
  for (let from = 0; from < CUSTOMERS; from += CHUNK) {
    const to = Math.min(CUSTOMERS, from + CHUNK) - 1;
    const rows = `WITH RECURSIVE n(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM n WHERE i < ${to}),
      p AS (SELECT i, 'C' || substr('0000000' || i, -7) AS ext, date('1960-01-01', '+' || ((i * 7919) % 21915) || ' days') AS born FROM n)`;
    await db.batch([
      db
        .prepare(
          `${rows} INSERT INTO customers (org, external_id, identity_key, email, name, country, time_zone, attributes, last_seen_at, created_at, updated_at)
           SELECT ?1, ext, 'email:' || lower(ext) || '@bench.example.com', lower(ext) || '@bench.example.com', 'Customer ' || i, 'US', ${zoneCase},
                  json_object('birthday', born, 'tier', CASE WHEN i % 10 = 0 THEN 'gold' ELSE 'silver' END),
                  datetime('${now.slice(0, 10)}', '-' || (i % 400) || ' days') || '.000Z', ?2, ?2 FROM p`,
        )
        .bind(ORG, now),
      db
        .prepare(
          `${rows} INSERT INTO customer_dates (org, attribute, month_day, external_id, value) SELECT ?1, 'birthday', strftime('%m-%d', born), ext, born FROM p`,
        )
        .bind(ORG),
    ]);
  }
}
