// Shared by `npm run dev` and `npm run token`: makes sure .dev.vars exists, created from
// .dev.vars.example with fresh random secrets, and reads it.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("../../", import.meta.url));
const DEV_VARS = `${root}.dev.vars`;
const EXAMPLE = `${root}.dev.vars.example`;

const GENERATED = {
  JWT_SECRET: () => randomBytes(32).toString("base64url"),
  CODE_ENCRYPTION_KEY: () => randomBytes(32).toString("base64"),
};

export function ensureDevVars() {
  if (existsSync(DEV_VARS)) return false;
  const lines = readFileSync(EXAMPLE, "utf8")
    .split("\n")
    .map((line) => {
      const m = /^([A-Z_]+)=\s*$/.exec(line);
      return m && GENERATED[m[1]] ? `${m[1]}=${GENERATED[m[1]]()}` : line;
    });
  writeFileSync(DEV_VARS, lines.join("\n"), { mode: 0o600 });
  return true;
}

export function readDevVars() {
  ensureDevVars();
  const vars = {};
  for (const line of readFileSync(DEV_VARS, "utf8").split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) vars[m[1]] = m[2].replace(/^"(.*)"$/, "$1");
  }
  return vars;
}

/** [vars] from wrangler.toml (issuer and audience), read simply: key = "value" lines. */
export function readWranglerVars() {
  const toml = readFileSync(`${root}wrangler.toml`, "utf8");
  const section = toml.split(/^\[vars\]\s*$/m)[1]?.split(/^\[/m)[0] ?? "";
  const vars = {};
  for (const m of section.matchAll(/^([A-Z_]+)\s*=\s*"([^"]*)"/gm)) vars[m[1]] = m[2];
  return vars;
}
