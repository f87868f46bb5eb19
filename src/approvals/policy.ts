/**
 * Which steps of an org's approval policy a batch needs. Steps keep their policy order; a step
 * with `min_total` applies only from that valid total up. Every batch needs at least one
 * approval, so when no threshold is reached the policy's first step still applies. A campaign's
 * day uses the same choice over the total of its pending rewards.
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

/** A step with its position in the policy itself: stable while a growing total adds later steps (campaign days). */
export interface PolicyStep extends FlowStep {
  policyIndex: number;
}

export function applicablePolicySteps(policy: ApprovalPolicy, total: number): PolicyStep[] {
  const indexed = policy.steps.map((s, policyIndex) => ({ s, policyIndex }));
  const applies = indexed.filter(({ s }) => s.min_total === undefined || total >= s.min_total);
  const chosen = applies.length > 0 ? applies : indexed.slice(0, 1);
  return chosen.map(({ s, policyIndex }, index) => ({ index, policyIndex, role: s.role, quorum: s.quorum, min_total: s.min_total ?? null }));
}

export function applicableSteps(policy: ApprovalPolicy, validTotal: number): FlowStep[] {
  return applicablePolicySteps(policy, validTotal).map(({ policyIndex: _, ...step }) => step);
}
