/**
 * The OpenAPI document as `wrangler dev` serves it passes Redocly's recommended ruleset with no
 * errors (the same check an integrator's SDK pipeline would run on /openapi.json).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "./dev-server";

const REDOCLY = path.resolve(import.meta.dirname, "../../node_modules/@redocly/cli/bin/cli.js");

let server: DevServer;

beforeAll(async () => {
  server = await startDevServer();
});

afterAll(async () => {
  await server?.stop();
});

interface LintReport {
  totals: { errors: number; warnings: number };
  problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[];
}

describe("the served OpenAPI document", () => {
  it("passes `redocly lint` with the recommended ruleset and no errors", async () => {
    const res = await fetch(`${server.url}/openapi.json`);
    expect(res.status).toBe(200);
    const dir = mkdtempSync(path.join(tmpdir(), "rewardrail-openapi-"));
    try {
      const file = path.join(dir, "openapi.json");
      writeFileSync(file, await res.text());
      // info-license: a private API has no licence to state.
      const lint = spawnSync(process.execPath, [REDOCLY, "lint", file, "--extends", "recommended", "--skip-rule", "info-license", "--format", "json"], {
        encoding: "utf8",
        env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" },
      });
      const report = JSON.parse(lint.stdout) as LintReport;
      const errors = report.problems.filter((p) => p.severity === "error").map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`);
      expect(errors).toEqual([]);
      expect(report.totals.errors).toBe(0);
      expect(lint.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
