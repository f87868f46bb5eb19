/**
 * Campaign rules in CEL (@marcbachmann/cel-js: zero dependencies, no eval, runs in Workers). A rule
 * sees two maps, `event` ({ type, occurred_at, properties }) and `customer` ({ external_id, email,
 * phone, name, country, attributes, rewards_received, rewarded_amount }: the history counts this
 * campaign's rewards to the customer). Rules are parsed and type-checked when a campaign is saved;
 * the structural limits bound what one evaluation can cost: no loops beyond the comprehension
 * macros, which run over lists of the event itself (≤ 1 MiB per request).
 */
import { Environment } from "@marcbachmann/cel-js";
import type { FieldError } from "../core/errors";

export const MAX_RULE_LENGTH = 2000;
const LIMITS = { maxAstNodes: 400, maxDepth: 32, maxListElements: 100, maxMapEntries: 100, maxCallArguments: 8 };

const env = new Environment({ limits: LIMITS }).registerVariable("event", "map").registerVariable("customer", "map");
/** Segment conditions see the customer only (src/customers/segments.ts). */
const customerOnly = new Environment({ limits: LIMITS }).registerVariable("customer", "map");

/**
 * What `customer` holds, for checking a rule when it is saved (evaluation keeps the plain maps): with
 * the fields typed, `customer.name` is a string and not a condition, and `customer.nmae` is an
 * unknown field; `attributes` stays a map of anything.
 */
const PROFILE_FIELDS = { external_id: "string", email: "string", phone: "string", name: "string", country: "string", attributes: "map" } as const;
const checkers = {
  event_and_customer: new Environment({ limits: LIMITS })
    .registerType("Customer", { fields: { ...PROFILE_FIELDS, rewards_received: "int", rewarded_amount: "int" } })
    .registerVariable("event", "map")
    .registerVariable("customer", "Customer"),
  customer: new Environment({ limits: LIMITS })
    .registerType("Customer", { fields: { ...PROFILE_FIELDS, time_zone: "string", last_seen_at: "string" } })
    .registerVariable("customer", "Customer"),
};

export interface RuleContext {
  event: { type: string; occurred_at: string; properties: Record<string, unknown> };
  customer: Record<string, unknown>;
}

/** A problem with one rule: where it is in the rule (0-based character offsets) and why. */
export function checkRule(rule: string, pointer: string, over: "event_and_customer" | "customer" = "event_and_customer"): FieldError | null {
  const result = checkers[over].check(rule);
  if (result.valid) {
    if (result.type === "bool" || result.type === "dyn") return null;
    return { pointer, code: "rule_invalid", detail: `The rule must be a condition (bool), not ${result.type} (at 0-${rule.length})` };
  }
  const err = result.error as { summary?: string; message: string; range?: { start: number; end: number } };
  const range = err.range ?? { start: 0, end: rule.length };
  return {
    pointer,
    code: "rule_invalid",
    detail: `${err.summary ?? err.message} at position ${range.start}${range.end > range.start ? `-${range.end}` : ""}`,
    ...({ position: range.start, end: range.end } as object),
  };
}

/**
 * Parsed rules, by their text: a request of 1,000 events evaluates the same few rules thousands of
 * times, and parsing is most of what an evaluation costs. Bounded: a rule is at most 2,000 characters.
 */
const compiled = new Map<string, (ctx: Record<string, unknown>) => unknown>();
const MAX_COMPILED = 500;

function compile(rule: string): (ctx: Record<string, unknown>) => unknown {
  let fn = compiled.get(rule);
  if (!fn) {
    fn = env.parse(rule) as unknown as (ctx: Record<string, unknown>) => unknown;
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
    compiled.set(rule, fn);
  }
  return fn;
}

/** True, false, or an error (a missing property, a type mismatch at run time): the caller skips with rule_false. */
export function evaluateRule(rule: string, ctx: RuleContext): { ok: true; value: boolean } | { ok: false; error: string } {
  try {
    return { ok: true, value: compile(rule)(ctx as unknown as Record<string, unknown>) === true };
  } catch (err) {
    return { ok: false, error: String((err as { summary?: string }).summary ?? (err as Error).message).slice(0, 300) };
  }
}

/**
 * A segment condition over `customer` alone, parsed once for the many customers an import or a
 * backfill judges: true or false; a condition that fails at run time (a missing attribute) is false.
 */
export function compileCondition(condition: string): (customer: Record<string, unknown>) => boolean {
  const program = customerOnly.parse(condition) as (ctx: Record<string, unknown>) => unknown;
  return (customer) => {
    try {
      return program({ customer }) === true;
    } catch {
      return false;
    }
  };
}
