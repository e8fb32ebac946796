/**
 * Exact arithmetic for aggregator states. Numbers are rounded to 6 decimals
 * and summed as BigInt micro-units, so a sum is the same whatever the order
 * of its terms: float addition is not associative, integer addition is.
 */

/** A finite number from a number or a numeric string; undefined otherwise. */
export function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/** Micro-units of `n` as a decimal string (state form). */
export function toMicro(n: number): bigint {
  return BigInt(Math.round(n * 1e6));
}

export function addMicro(a: string, b: bigint | string): string {
  return (BigInt(a) + BigInt(b)).toString();
}

export function fromMicro(s: string | bigint): number {
  const b = BigInt(s);
  const whole = b / 1_000_000n;
  const frac = b % 1_000_000n;
  return Number(whole) + Number(frac) / 1e6;
}

/** A stable string form of a value used as a key or a distinct item. */
export function keyOf(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** Rounds to 6 decimals for display. */
export function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
