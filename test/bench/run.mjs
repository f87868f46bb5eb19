#!/usr/bin/env node
// `npm run bench` runs every test/bench/*.bench.mjs; `npm run bench -- http [other …]` runs the named
// ones. Each benchmark runs in its own Node process (a fresh workerd, no state shared between them)
// and must end its output with one JSON line of figures; the runner checks that and exits non-zero
// when a benchmark fails. It prints nothing after the last benchmark, so `| tail -1` gives its JSON.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const available = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.mjs"))
  .map((f) => f.slice(0, -".bench.mjs".length))
  .sort();

const requested = process.argv.slice(2).map((arg) => arg.replace(/\.bench\.mjs$/, ""));
const unknown = requested.filter((name) => !available.includes(name));
if (unknown.length > 0) {
  console.error(`Unknown benchmark${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}`);
  console.error(`Available: ${available.join(", ") || "(none)"}  — usage: npm run bench [-- NAME …]`);
  process.exit(2);
}

/** Runs one benchmark, echoing its output; resolves to an error message, or null on success. */
function run(name) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`${dir}${name}.bench.mjs`], { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      process.stdout.write(chunk);
    });
    child.on("error", (err) => resolve(err.message));
    child.on("close", (code, signal) => {
      if (code !== 0) return resolve(`exited with ${signal ?? `code ${code}`}`);
      const last = stdout.trimEnd().split("\n").at(-1) ?? "";
      try {
        const figures = JSON.parse(last);
        resolve(figures?.bench === name ? null : `its last line is JSON but not {"bench":"${name}",…}`);
      } catch {
        resolve("its last line of output is not a JSON object of figures");
      }
    });
  });
}

/**
 * This VM's speed drifts (the same code has measured 2× apart within an hour), so each run starts
 * with a reference: a fixed CPU-bound loop in this Node process. The README's figures were taken
 * when it took ~45 ms.
 */
function machineReference() {
  let x = 0;
  const best = [];
  for (let round = 0; round < 5; round++) {
    const t = performance.now();
    for (let i = 0; i < 1e7; i++) x = (x + i * 7) % 1000003;
    best.push(performance.now() - t);
  }
  return { ms: Math.min(...best), x };
}
const ref = machineReference();
console.log(`machine reference: 10^7-iteration loop ${ref.ms.toFixed(1)} ms (~45 ms when the README's figures were taken; higher = slower machine right now)`);

const failed = [];
for (const name of requested.length > 0 ? requested : available) {
  console.log(`\n▶ bench ${name}`);
  const error = await run(name);
  if (error) {
    console.error(`✖ bench ${name} failed: ${error}`);
    failed.push(name);
  }
}
if (failed.length > 0) process.exit(1);
