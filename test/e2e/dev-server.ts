/**
 * Starts the Worker with `wrangler dev` for browser tests: a throw-away persistence directory with
 * the D1 migrations applied, free ports, development mode (dev outbox on, no provider keys) and a
 * random JWT secret, all passed with --var so a developer's .dev.vars never leaks in. Like
 * `npm run dev`, it serves /__scheduled?cron=… to run a cron trigger now.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { SignJWT } from "jose";

const root = path.resolve(import.meta.dirname, "../..");
const WRANGLER = path.join(root, "node_modules/wrangler/bin/wrangler.js");
const ISSUER = "rewardrail-e2e";
const AUDIENCE = "rewardrail-api";
const QUIET = { CI: "true", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface DevServer {
  url: string;
  token(claims: { org: string; sub: string; roles: string[] }): Promise<string>;
  stop(): Promise<void>;
}

async function waitForHealth(url: string, child: ChildProcess, log: () => string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}:\n${log()}`);
    const ok = await fetch(`${url}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`wrangler dev did not answer /health within ${timeoutMs} ms:\n${log()}`);
}

export async function startDevServer(): Promise<DevServer> {
  const dir = mkdtempSync(path.join(tmpdir(), "rewardrail-e2e-"));
  const env = { ...process.env, ...QUIET };
  const migrate = spawnSync(process.execPath, [WRANGLER, "d1", "migrations", "apply", "DB", "--local", "--persist-to", dir], {
    cwd: root,
    env,
    encoding: "utf8",
  });
  if (migrate.status !== 0) throw new Error(`migrations failed:\n${migrate.stdout}${migrate.stderr}`);
  const secret = randomBytes(32).toString("base64url");
  const [port, inspector] = [await freePort(), await freePort()];
  const vars = {
    ENVIRONMENT: "development",
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    JWT_SECRET: secret,
    RESEND_API_KEY: "",
    SMS_AUTH_TOKEN: "",
    PUBLIC_BASE_URL: "",
    CODE_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
  };
  const args = [
    WRANGLER,
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspector),
    "--persist-to",
    dir,
    "--show-interactive-dev-session=false",
    "--log-level",
    "warn",
    "--test-scheduled",
    ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  const child = spawn(process.execPath, args, { cwd: root, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      process.kill(-child.pid!, "SIGTERM"); // wrangler's own children (workerd) too
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForHealth(url, child, () => output);
  } catch (err) {
    await stop();
    throw err;
  }
  const token = (c: { org: string; sub: string; roles: string[] }) =>
    new SignJWT({ org: c.org, roles: c.roles })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(c.sub)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(secret));
  return { url, token, stop };
}
