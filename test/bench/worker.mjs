// Starts the real Worker locally for benchmarks and browser end-to-end tests, without `wrangler dev`:
// plain `wrangler dev` adds local observability, per-request logging and a forwarding proxy that cut
// local throughput by 2–5×. Instead we build the bundle exactly as `wrangler deploy` would
// (`--dry-run --outdir`), from the benchmarks' own entry (src/dev/bench-worker.ts: the deployed
// Worker with the bench counters wrapped around its queue handler, plus GET /dev/bench/metrics),
// derive the bindings from wrangler.toml with wrangler's own converter (so new bindings show up
// here automatically), and run it with Miniflare's API on a fresh, throw-away
// persistence directory with the D1 migrations applied.
//
//   import { startWorker, devToken } from "./worker.mjs";
//   const worker = await startWorker();            // { url, runtime, mf, dispose() }
//   const token = await devToken({ org: "acme", sub: "alice", roles: ["admin"] });
//   await fetch(`${worker.url}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
//   await worker.dispose();
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { SignJWT } from "jose";
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from "miniflare";
import { readWranglerVars, root } from "../../src/cli/dev-vars.mjs";

// Secrets are random per process, so a benchmark never depends on (or leaks) a developer's .dev.vars.
const JWT_SECRET = randomBytes(32).toString("base64url");
const CODE_ENCRYPTION_KEY = randomBytes(32).toString("base64");
const WRANGLER_VARS = readWranglerVars();
const PROFILE = Boolean(process.env.BENCH_PROFILE);

// Wrangler stays quiet (it would announce .dev.vars, which we do not use) and offline.
const WRANGLER_ENV = { CI: "true", WRANGLER_LOG: "warn", WRANGLER_SEND_METRICS: "false" };
const WRANGLER_BIN = path.join(root, "node_modules/wrangler/bin/wrangler.js");
// The deployed entry (wrangler.toml `main`) with the bench counters around it; wrangler names the bundle after it.
const BENCH_ENTRY = "src/dev/bench-worker.ts";

/** Signs an HS256 API token that every Worker started by this process accepts. */
export function devToken({ org = "bench", sub = "bench-user", roles = ["admin"], ttl = "1h" } = {}) {
  return new SignJWT({ org, roles })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuer(WRANGLER_VARS.JWT_ISSUER)
    .setAudience(WRANGLER_VARS.JWT_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(ttl)
    .sign(new TextEncoder().encode(JWT_SECRET));
}

/** Tokens of one org for the roles the benchmarks act as (subjects `bench-<role>`). */
export async function benchTokens(org = "bench") {
  const roles = ["admin", "finance", "owner", "operator", "integrator"];
  const tokens = await Promise.all(roles.map((role) => devToken({ org, sub: `bench-${role}`, roles: [role] })));
  return Object.fromEntries(roles.map((role, i) => [role, tokens[i]]));
}

/**
 * A JSON client of the started Worker: `api(path, { token, body, raw, method, contentType })` POSTs
 * when a body (JSON) or raw text is given, else GETs; it throws on any answer but 2xx and returns the
 * parsed JSON (null when empty).
 */
export function apiClient(worker) {
  return async function api(path, { token, body, raw, method, contentType } = {}) {
    const verb = method ?? (body || raw ? "POST" : "GET");
    const res = await fetch(`${worker.url}${path}`, {
      method: verb,
      headers: { authorization: `Bearer ${token}`, "content-type": contentType ?? "application/json" },
      body: raw ?? (body ? JSON.stringify(body) : undefined),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${verb} ${path} → ${res.status} ${text.slice(0, 500)}`);
    return text ? JSON.parse(text) : null;
  };
}

/**
 * A submitted batch of `n` stored-value cards by email (`amount` each) in a freshly funded pool: the
 * setup the delivery and redemptions benches share. `product` adds fields to the product. Returns the batch.
 */
export async function submittedCardBatch(api, tokens, { n, amount, chunk = 25_000, product = {} }) {
  const pool = await api("/v1/pools", { token: tokens.finance, body: { name: "bench", currency: "USD" } });
  await api(`/v1/pools/${pool.id}/fund`, { token: tokens.finance, body: { amount: n * amount * 2 } });
  const { id: productId } = await api("/v1/products", {
    token: tokens.admin,
    body: { name: "Bench card", kind: "stored_value", currency: "USD", min_amount: 100, max_amount: 100_000, countries: ["US"], ...product },
  });
  const batch = await api("/v1/batches", {
    token: tokens.operator,
    body: {
      name: "bench",
      campaign: "bench",
      business_owner: "Bench",
      cost_center: "CC-1",
      expected_delivery_date: "2026-12-31",
      expected_count: n,
      pool_id: pool.id,
      product_id: productId,
      channel: "email",
    },
  });
  for (let start = 0; start < n; start += chunk) {
    const lines = ["external_id,name,email,country,amount,currency"];
    for (let i = start; i < Math.min(n, start + chunk); i++) lines.push(`e${i},Person ${i},person${i}@example.com,US,${amount},USD`);
    await api(`/v1/batches/${batch.id}/recipients`, { token: tokens.operator, raw: lines.join("\n"), contentType: "text/csv" });
  }
  await api(`/v1/batches/${batch.id}/submit`, { token: tokens.operator, body: {} });
  return batch;
}

/**
 * Builds and starts the Worker. `direct: true` (default) returns the URL of a socket straight to the
 * Worker; `false` goes through Miniflare's entry worker like `mf.dispatchFetch` does (about half the
 * throughput, but it adds the placeholder `request.cf` and Miniflare's error pages).
 * `vars` are merged over the defaults (ENVIRONMENT "bench" turns per-request logging off).
 */
export async function startWorker({ direct = true, vars = {}, logLevel = LogLevel.WARN } = {}) {
  if (Number(process.versions.node.split(".")[0]) < 22) {
    throw new Error(`workerd needs Node >= 22 (this is ${process.version}); run through npm (npm run bench) so node_modules/.bin/node is used`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), "rewardrail-worker-"));
  // Miniflare turns SIGINT/SIGTERM into process.exit(), so an "exit" listener is the one place a
  // Ctrl-C'd benchmark can still remove its temporary directory (synchronously).
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once("exit", removeDir);
  let mf;
  try {
    const bundleDir = path.join(dir, "bundle");
    const build = spawnSync(process.execPath, [WRANGLER_BIN, "deploy", BENCH_ENTRY, "--dry-run", "--outdir", bundleDir], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, ...WRANGLER_ENV },
    });
    if (build.status !== 0) throw new Error(`wrangler deploy --dry-run failed:\n${build.stdout}${build.stderr}`);

    // Imported lazily: the wrangler module is large and only needed here.
    process.env.WRANGLER_LOG ??= "warn";
    const wrangler = await import("wrangler");
    const config = wrangler.unstable_readConfig({ config: path.join(root, "wrangler.toml") });
    // modulesRules only matter for unbundled sources, and the v4→v5 converter refuses them.
    const { modulesRules, ...workerOptions } = wrangler.unstable_getMiniflareWorkerOptions(config).workerOptions;

    mf = new Miniflare(
      convertV4MiniflareOptions({
        ...workerOptions,
        name: config.name,
        rootPath: bundleDir,
        scriptPath: path.join(bundleDir, `${path.basename(BENCH_ENTRY, ".ts")}.js`),
        modules: true,
        // The pools bench's reference Durable Object (src/dev/bench-probe.ts): bench-only, so not in wrangler.toml.
        durableObjects: { ...workerOptions.durableObjects, BENCH_PROBE: { className: "BenchProbe", useSQLite: true } },
        // wrangler.toml [vars] only (not .dev.vars), plus this run's secrets.
        bindings: {
          ...config.vars,
          ENVIRONMENT: "bench",
          JWT_SECRET,
          CODE_ENCRYPTION_KEY,
          RESEND_API_KEY: "",
          // The http bench sends thousands of requests a second as one caller: far past the rate limits.
          RATE_LIMITS: "off",
          ...vars,
        },
        unsafeDirectSockets: direct ? [{ host: "127.0.0.1", port: 0 }] : undefined,
        inspectorPort: PROFILE ? await freePort() : undefined,
        host: "127.0.0.1",
        port: 0,
        resourcePersistencePath: path.join(dir, "state"),
        logRequests: false,
        cf: false, // a placeholder request.cf; `true` would fetch the real one from Cloudflare
        log: new Log(logLevel),
      }),
    );
    const url = direct ? await mf.unsafeGetDirectURL() : await mf.ready;

    const d1 = config.d1_databases[0];
    await applyMigrations(await mf.getD1Database(d1.binding), path.resolve(root, d1.migrations_dir ?? "migrations"), wrangler);

    // The Worker's isolate, and Miniflare's D1 isolate (its JS shim and the SQLite calls under it).
    const profilers = PROFILE ? await Promise.all([`core:user:${config.name}`, "d1:db"].map((target) => startProfiler(mf, target))) : [];
    const dispose = async () => {
      for (const profiler of profilers) await profiler.stop();
      await mf.dispose();
      removeDir();
      process.off("exit", removeDir);
    };
    return {
      url: url.origin,
      runtime: direct ? "miniflare API on the wrangler-built bundle (direct worker socket)" : "miniflare API on the wrangler-built bundle (via entry worker)",
      mf,
      dispose,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (err) {
    await mf?.dispose().catch(() => {});
    removeDir();
    process.off("exit", removeDir);
    throw err;
  }
}

/** The workerd processes this Node process started (Miniflare's runtime). */
export function workerdPids() {
  const pids = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (comm.startsWith("workerd") && ppid === process.pid) pids.push(entry);
    } catch {}
  }
  return pids;
}

export /** CPU seconds (user + system) used so far by the workerd processes: less noisy than wall time on a shared machine. */
function cpuSeconds(pids) {
  const { user, system } = cpuSplit(pids);
  return user + system;
}

/** The same, user and system apart (system time is mostly storage: SQLite's writes and fsyncs). */
export function cpuSplit(pids) {
  let utime = 0;
  let stime = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      utime += Number(fields[11]); // utime, stime: fields 14 and 15 of stat
      stime += Number(fields[12]);
    } catch {}
  }
  return { user: utime / 100, system: stime / 100 }; // USER_HZ
}

/** A free TCP port on 127.0.0.1 (for the inspector, which Miniflare cannot pick itself). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

/**
 * BENCH_PROFILE=1: records a V8 CPU profile of one inspector target (the Worker's isolate with its
 * Durable Objects, or Miniflare's D1 isolate) over the whole run, writes it to
 * bench-<target>-<time>.cpuprofile (open in Chrome DevTools) and prints the top functions by self time.
 */
async function startProfiler(mf, target) {
  const url = `ws://127.0.0.1:${(await mf.getInspectorURL()).port}/${target}`;
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`cannot reach the inspector at ${url}`));
  });
  let nextId = 1;
  const waiting = new Map();
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.id && waiting.has(msg.id)) {
      waiting.get(msg.id)(msg);
      waiting.delete(msg.id);
    }
  };
  const send = (method, params = {}) =>
    new Promise((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 200 });
  await send("Profiler.start");
  return {
    async stop() {
      const { result } = await send("Profiler.stop");
      ws.close();
      const file = path.join(root, `bench-${target.replaceAll(":", "-")}-${Date.now()}.cpuprofile`);
      writeFileSync(file, JSON.stringify(result.profile));
      printTopSelfTime(result.profile, file);
    },
  };
}

function printTopSelfTime(profile, file) {
  const self = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const dt = profile.timeDeltas;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const n = byId.get(id);
    const f = n.callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}:${f.lineNumber + 1}`;
    // A sample's delta runs back to the previous sample; while this isolate waits on another one
    // sharing its thread (D1's SQLite locally), the gap is long and would be charged to whatever
    // ran next. Capping it at 1 ms charges CPU where it was spent.
    const us = Math.min(dt[i] ?? 0, 1000);
    self.set(key, (self.get(key) ?? 0) + us);
    total += us;
  });
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40);
  console.error(`\nCPU profile: ${file} (${(total / 1e6).toFixed(2)} s sampled)`);
  for (const [key, us] of top) console.error(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1e3).toFixed(0).padStart(7)} ms  ${key}`);
}

/** Runs every migrations/*.sql in name order, like `wrangler d1 migrations apply` (minus its bookkeeping table). */
async function applyMigrations(db, migrationsDir, wrangler) {
  const files = readdirSync(migrationsDir)
    .filter((f) => f.endsWith(".sql"))
    .sort();
  for (const file of files) {
    // wrangler's own splitter copes with drizzle's `--> statement-breakpoint` comments and hand-written SQL.
    const statements = wrangler.unstable_splitSqlQuery(readFileSync(path.join(migrationsDir, file), "utf8"));
    await db.batch(statements.map((sql) => db.prepare(sql)));
  }
}
