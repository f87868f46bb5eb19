#!/usr/bin/env node
// Before/after on a noisy machine: `npm run bench:ab -- REF NAME [ROUNDS]` checks out REF (a commit,
// branch or tag) in a temporary git worktree and runs benchmark NAME there and in this working tree
// *at the same time*, ROUNDS times (default 3). This VM's speed drifts by up to 2× within minutes, so
// runs one after another compare the machine's moods more than the code; side by side, both see the
// same machine (one core each), and the ratio of their figures is what carries over. Absolute
// figures are lower than a lone run's (the two share the memory bus and V8's helper threads).
// Prints each round's last JSON lines and, per numeric figure, the median ratio working tree / REF.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
const [ref, name, roundsArg] = process.argv.slice(2);
if (!ref || !name) {
  console.error("usage: npm run bench:ab -- REF NAME [ROUNDS]   e.g. npm run bench:ab -- HEAD~3 batches");
  process.exit(2);
}
const rounds = Number(roundsArg ?? 3);

const git = (...args) => {
  const r = spawnSync("git", args, { cwd: root, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
};

/** Runs `npm run bench -- name` in `dir`; resolves to its last line's figures. */
function bench(dir) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(dir, "test/bench/run.mjs"), name], { cwd: dir, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.on("close", (code) => {
      const last = out.trimEnd().split("\n").at(-1) ?? "";
      if (code !== 0) return reject(new Error(`bench in ${dir} exited with ${code}`));
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`bench in ${dir} did not end with JSON: ${last}`));
      }
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

const base = mkdtempSync(path.join(tmpdir(), "rewardrail-ab-"));
const commit = git("rev-parse", "--short", ref);
git("worktree", "add", "--detach", base, ref);
try {
  // The same installed packages: the comparison is about this repository's code.
  symlinkSync(path.join(root, "node_modules"), path.join(base, "node_modules"));
  const ratios = new Map();
  for (let i = 1; i <= rounds; i++) {
    const [now, before] = await Promise.all([bench(root), bench(base)]);
    console.log(`round ${i}\n  working tree: ${JSON.stringify(now)}\n  ${commit}: ${JSON.stringify(before)}`);
    for (const [k, v] of Object.entries(now)) {
      if (typeof v === "number" && typeof before[k] === "number" && before[k] !== 0) ratios.set(k, [...(ratios.get(k) ?? []), v / before[k]]);
    }
  }
  console.log(`median ratio, working tree / ${commit}, over ${rounds} rounds:`);
  for (const [k, rs] of ratios) if (!rs.every((r) => r === 1)) console.log(`  ${k}: ${median(rs).toFixed(3)}  (${rs.map((r) => r.toFixed(2)).join(", ")})`);
} finally {
  git("worktree", "remove", "--force", base);
  rmSync(base, { recursive: true, force: true });
}
