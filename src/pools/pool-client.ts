/**
 * The one way into a funding pool's Durable Object. Only files in src/pools/ call `poolStub`;
 * everyone else calls the named operations beside it (batch-holds.ts, delivery-value.ts,
 * ledger-reads.ts, pools.service.ts), whose operation ids come from op-ids.ts.
 */
import { AppError } from "../core/errors";
import type { Env } from "../env";
import type { Balance, PoolFailure } from "../../durable-objects/pool-types";

export function poolStub(env: Pick<Env, "FUNDING_POOL">, poolId: string) {
  return env.FUNDING_POOL.get(env.FUNDING_POOL.idFromName(poolId));
}

/** Turns a pool DO refusal into the API's error. */
export function poolError(failure: PoolFailure): AppError {
  switch (failure.code) {
    case "insufficient_funds":
    case "limit_exceeded":
    case "amount_too_large":
      return new AppError(failure.code, failure.detail);
    case "operation_id_reused":
      return new AppError("operation_id_reused", failure.detail);
    case "invalid_argument":
      return new AppError("validation_failed", failure.detail);
    case "hold_not_found":
    case "item_not_found":
      return new AppError("not_found", failure.detail);
    case "not_initialized":
      return new AppError("internal_error", failure.detail);
    default:
      return new AppError("invalid_state_transition", failure.detail);
  }
}

export function unwrap<R extends { ok: true } | PoolFailure>(result: R): Exclude<R, PoolFailure> {
  if (!result.ok) throw poolError(result as PoolFailure);
  return result as Exclude<R, PoolFailure>;
}

/** What a pool needs to (re)initialise its DO: its D1 row's identity and limits. */
export interface PoolIdentity {
  id: string;
  org: string;
  currency: string;
  limits: string;
}

/** The live balance from the pool's DO; a DO that lost its init (crash after the D1 insert) is re-initialised. */
export async function poolBalance(env: Env, pool: PoolIdentity): Promise<Balance> {
  const stub = poolStub(env, pool.id);
  let result = await stub.getBalance();
  if (!result.ok && result.code === "not_initialized") {
    result = await stub.init({ poolId: pool.id, org: pool.org, currency: pool.currency, limits: JSON.parse(pool.limits) });
  }
  return unwrap(result).balance;
}

/** fund / withdraw, idempotent by `opId` (op-ids.ts `moveOperationId`). */
export async function moveFunds(
  env: Env,
  poolId: string,
  kind: "fund" | "withdraw",
  args: { opId: string; amount: number; reference?: string; actor: string },
) {
  const stub = poolStub(env, poolId);
  return unwrap(kind === "fund" ? await stub.fund(args) : await stub.withdraw(args));
}
