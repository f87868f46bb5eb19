import type { D1Migration } from "cloudflare:test";
import type { Env as WorkerEnv } from "../src/env";

declare global {
  namespace Cloudflare {
    interface GlobalProps {
      mainModule: typeof import("../src/index");
      durableNamespaces: "FundingPool" | "StoredValueCard";
    }
    interface Env extends WorkerEnv {
      TEST_MIGRATIONS: D1Migration[];
      POOL_PROPERTY_RUNS: string;
      POOL_PROPERTY_SEED: string;
      POOL_PROPERTY_PATH: string;
      CARD_PROPERTY_RUNS: string;
      CARD_PROPERTY_SEED: string;
      CARD_PROPERTY_PATH: string;
    }
  }
}
