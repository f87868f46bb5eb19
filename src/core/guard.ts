/**
 * Conditional transactions on D1. A D1 `batch()` is one transaction, but its statements cannot
 * branch; a guard statement fails (NOT NULL violation on `write_guards`) when its condition does
 * not hold, which rolls back everything in the batch, audit events included.
 */

/** Aborts the batch unless the statement just before it changed at least one row. */
export function requireChanged(d1: D1Database): D1PreparedStatement {
  return d1.prepare("INSERT INTO write_guards (stale_write) SELECT NULL WHERE changes() = 0");
}

/** True when a D1 error came from a guard, i.e. the state the caller read has changed since. */
export function isGuardFailure(err: unknown): boolean {
  return String((err as Error)?.message ?? err).includes("write_guards.stale_write");
}
