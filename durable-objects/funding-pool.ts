import { DurableObject } from "cloudflare:workers";
import type { Env } from "../src/env";

/** One SQLite-backed Durable Object per funding pool: the authority for its balance. */
export class FundingPool extends DurableObject<Env> {}
