/**
 * What a reconciliation run finds and how a run moves: phases that each work in bounded pages,
 * carrying a cursor from step to step, and accumulators that end up in the run's summary.
 */
import type { Env } from "../env";

export const FINDING_KINDS = [
  "duplicate_payout",
  "ledger_drift",
  "spend_without_approval",
  "stuck_delivery",
  "failed_unresolved",
  "expired_hold_unreleased",
  "unused_inventory",
  "orphan_code",
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];
export type Severity = "low" | "medium" | "high";

export const SEVERITY: Record<FindingKind, Severity> = {
  duplicate_payout: "high",
  ledger_drift: "high",
  spend_without_approval: "high",
  stuck_delivery: "medium",
  failed_unresolved: "medium",
  expired_hold_unreleased: "medium",
  unused_inventory: "low",
  orphan_code: "medium",
};

/**
 * Exceptions the delivery code opens for the same problem. A finding whose entity already has an
 * open exception of one of these kinds updates that exception instead of opening a second one.
 */
export const SAME_PROBLEM_KINDS: Partial<Record<FindingKind, readonly string[]>> = {
  failed_unresolved: ["delivery_failed", "delivery_dead_lettered", "delivery_held"],
  stuck_delivery: ["delivery_stuck"],
};

export interface Finding {
  kind: FindingKind;
  entityType: string;
  entityId: string;
  batchId?: string | null;
  poolId?: string | null;
  currency?: string | null;
  /** What the authoritative side says (minor units), e.g. the pool DO; null when not a money comparison. */
  expected: number | null;
  /** What the other side says. */
  actual: number | null;
  detail: string;
  data?: Record<string, unknown>;
  /**
   * The facts that identify this occurrence of the problem. An exception someone resolved stays
   * resolved while later runs find the same facts; different facts open it again.
   */
  facts: unknown;
}

export const PHASES = ["ledger", "batches", "deliveries", "inventory"] as const;
export type PhaseName = (typeof PHASES)[number];

export interface Totals {
  planned: number;
  reserved: number;
  committed: number;
  delivered: number;
  failed: number;
  reversed: number;
}

export interface PhaseStats {
  steps: number;
  rows: number;
  ms: number;
}

/** Accumulated across steps and stored on the run (small: no per-row data). */
export interface RunState {
  totals: Record<string, Totals>;
  phases: Partial<Record<PhaseName, PhaseStats>>;
  max_step_rows: number;
  max_step_ms: number;
  invocations: number;
  /** Rows per page instead of each phase's default (tests use tiny pages to exercise paging). */
  page?: number;
}

export interface StepContext {
  env: Env;
  org: string;
  runId: string;
  now: Date;
  state: RunState;
  /** The phase's cursor from the previous step, null on its first step. */
  cursor: unknown;
}

export interface StepResult {
  findings: Finding[];
  /** Where the next step of this phase continues; null when the phase is done. */
  cursor: unknown;
  /** Rows read by this step (journal entries, deliveries, codes, batches...). */
  rows: number;
}

export type Phase = (ctx: StepContext) => Promise<StepResult>;

export function addTotals(state: RunState, currency: string, add: Partial<Totals>): void {
  state.totals[currency] ??= { planned: 0, reserved: 0, committed: 0, delivered: 0, failed: 0, reversed: 0 };
  const t = state.totals[currency];
  for (const [k, v] of Object.entries(add) as [keyof Totals, number][]) t[k] += v ?? 0;
}

export const emptyState = (page?: number): RunState => ({
  totals: {},
  phases: {},
  max_step_rows: 0,
  max_step_ms: 0,
  invocations: 0,
  ...(page ? { page } : {}),
});

/** The page size a phase uses in this run. */
export const pageSize = (ctx: StepContext, fallback: number) => ctx.state.page ?? fallback;
