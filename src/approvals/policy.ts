/**
 * Which steps of an org's approval policy a batch needs. Steps keep their policy order; a step
 * with `min_total` applies only from that valid total up. Every batch needs at least one
 * approval, so when no threshold is reached the policy's first step still applies.
 */
import type { z } from "@hono/zod-openapi";
import type { ApprovalPolicySchema } from "../settings/settings.schema";
import type { Role } from "../env";

export type ApprovalPolicy = z.output<typeof ApprovalPolicySchema>;

export interface FlowStep {
  /** Position in the batch's own step list (0-based). */
  index: number;
  role: Role;
  quorum: number;
  min_total: number | null;
}

export function applicableSteps(policy: ApprovalPolicy, validTotal: number): FlowStep[] {
  const applies = policy.steps.filter((s) => s.min_total === undefined || validTotal >= s.min_total);
  const chosen = applies.length > 0 ? applies : policy.steps.slice(0, 1);
  return chosen.map((s, index) => ({ index, role: s.role, quorum: s.quorum, min_total: s.min_total ?? null }));
}
