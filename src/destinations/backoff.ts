/**
 * Retry schedule: exponential backoff with full jitter. The ceiling doubles
 * per attempt up to the cap; the delay is uniform in [0, ceiling], which
 * spreads retries of many failing deliveries instead of synchronising them.
 */

export interface BackoffOptions {
  /** Ceiling of the first retry (ms). */
  baseMs: number;
  /** Largest ceiling (ms). */
  capMs: number;
}

/** The largest delay before retry number `attempt` (1 = after the first failure). */
export function backoffCeiling(attempt: number, o: BackoffOptions): number {
  const exp = Math.min(attempt - 1, 52); // 2^52 already exceeds any cap: avoid Infinity
  return Math.min(o.capMs, o.baseMs * 2 ** Math.max(0, exp));
}

/** A delay in [0, ceiling] drawn with `rng` (uniform in [0, 1)). */
export function backoffDelay(attempt: number, o: BackoffOptions, rng: () => number): number {
  return Math.floor(rng() * (backoffCeiling(attempt, o) + 1));
}
