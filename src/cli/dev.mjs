#!/usr/bin/env node
// `npm run dev [-- wrangler dev flags]`: creates .dev.vars if missing, applies D1 migrations to the
// local database, then runs `wrangler dev` (workerd with local D1, Durable Objects and Queues).
import { spawnSync } from "node:child_process";
import { ensureDevVars, root } from "./dev-vars.mjs";

if (ensureDevVars()) console.log("Created .dev.vars from .dev.vars.example with fresh random secrets.");

const wrangler = (args) => spawnSync("wrangler", args, { cwd: root, stdio: "inherit", env: { ...process.env, CI: "true" } });

const migrate = wrangler(["d1", "migrations", "apply", "DB", "--local"]);
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const dev = spawnSync("wrangler", ["dev", ...process.argv.slice(2)], { cwd: root, stdio: "inherit" });
process.exit(dev.status ?? 0);
