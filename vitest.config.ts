import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Two projects: `workers` runs inside workerd with the real local D1, Durable Objects and Queues of
// wrangler.toml; `e2e` runs in Node and drives a real browser against the Worker served by
// `wrangler dev` (test/e2e/).
export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    test: {
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  TEST_MIGRATIONS: migrations,
                  ENVIRONMENT: "test",
                  JWT_SECRET: "test-secret-that-is-long-enough-for-hs256-0123456789",
                  CODE_ENCRYPTION_KEY: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                  RESEND_API_KEY: "",
                  // Long property runs: POOL_PROPERTY_RUNS=20000 npm test -- pools.property
                  POOL_PROPERTY_RUNS: process.env.POOL_PROPERTY_RUNS ?? "",
                  POOL_PROPERTY_SEED: process.env.POOL_PROPERTY_SEED ?? "",
                  POOL_PROPERTY_PATH: process.env.POOL_PROPERTY_PATH ?? "",
                  CARD_PROPERTY_RUNS: process.env.CARD_PROPERTY_RUNS ?? "",
                  CARD_PROPERTY_SEED: process.env.CARD_PROPERTY_SEED ?? "",
                  CARD_PROPERTY_PATH: process.env.CARD_PROPERTY_PATH ?? "",
                },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/**/*.test.ts"],
            exclude: ["test/e2e/**", "**/node_modules/**"],
            setupFiles: ["./test/setup/apply-migrations.ts"],
            testTimeout: 30_000,
            hookTimeout: 30_000,
          },
        },
        {
          test: {
            name: "e2e",
            include: ["test/e2e/**/*.test.ts"],
            environment: "node",
            testTimeout: 120_000,
            hookTimeout: 180_000,
          },
        },
      ],
    },
  };
});
