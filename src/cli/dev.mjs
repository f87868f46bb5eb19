#!/usr/bin/env node
// `npm run dev [-- wrangler dev flags]`: creates .dev.vars if missing, applies D1 migrations to the
// local database, then runs `wrangler dev` (workerd with local D1, Durable Objects and Queues).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { ensureDevVars, root } from "./dev-vars.mjs";

if (ensureDevVars()) console.log("Created .dev.vars from .dev.vars.example with fresh random secrets.");

const wrangler = (args) => spawnSync("wrangler", args, { cwd: root, stdio: "inherit", env: { ...process.env, CI: "true" } });

const migrate = wrangler(["d1", "migrations", "apply", "DB", "--local"]);
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

// Links made outside a request (claim links, by the queue consumer) take PUBLIC_BASE_URL: point it at
// the port this dev server listens on, unless .dev.vars, the environment or a --var already sets it.
const args = process.argv.slice(2);
const portArg = args.findIndex((a) => a === "--port" || a.startsWith("--port="));
const port = portArg < 0 ? "8787" : args[portArg].includes("=") ? args[portArg].split("=")[1] : args[portArg + 1];
const devVars = existsSync(path.join(root, ".dev.vars")) ? readFileSync(path.join(root, ".dev.vars"), "utf8") : "";
const baseUrlSet = /^\s*PUBLIC_BASE_URL\s*=/m.test(devVars) || process.env.PUBLIC_BASE_URL || args.some((a) => a.startsWith("PUBLIC_BASE_URL:"));
if (!baseUrlSet) args.push("--var", `PUBLIC_BASE_URL:http://localhost:${port}`);

// /__scheduled?cron=… runs a cron trigger now (the hourly reconciliation, the 5-minute sweeps).
if (!args.includes("--test-scheduled")) args.push("--test-scheduled");

const dev = spawnSync("wrangler", ["dev", ...args], { cwd: root, stdio: "inherit" });
process.exit(dev.status ?? 0);
