/**
 * Exact arithmetic for aggregator states. Numbers are rounded to 6 decimals
 * and summed as integer micro-units, so a sum is the same whatever the order
 * of its terms: float addition is not associative, integer addition is.
 *
 * A micro amount is a plain number while it is a safe integer and a decimal
 * string (BigInt arithmetic) beyond. The form depends only on the amount, so
 * equal amounts always serialise to equal bytes, and the common case stays
 * free of BigInt allocations on the hot path.
 */

export type Micro = number | string;

/** A finite number from a number or a numeric string; undefined otherwise. -0 reads as 0 (JSON cannot tell them apart). */
export function toNumber(v: unknown): number | undefined {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && v.trim() !== '') n = Number(v);
  else return undefined;
  if (!Number.isFinite(n)) return undefined;
  return n === 0 ? 0 : n;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

function canonical(b: bigint): Micro {
  return b <= MAX_SAFE && b >= MIN_SAFE ? Number(b) : b.toString();
}

/** `n` rounded to micro-units (6 decimals). */
export function toMicro(n: number): Micro {
  const m = Math.round(n * 1e6);
  if (Number.isSafeInteger(m)) return m === 0 ? 0 : m;
  // Beyond 2^53 the product n × 1e6 is itself rounded. Split n into its integer
  // part and fraction (both exact in binary) so the micro amount is exact.
  const whole = Math.trunc(n);
  return canonical(BigInt(whole) * 1_000_000n + BigInt(Math.round((n - whole) * 1e6)));
}

export function addMicro(a: Micro, b: Micro): Micro {
  if (typeof a === 'number' && typeof b === 'number') {
    const s = a + b;
    if (Number.isSafeInteger(s)) return s === 0 ? 0 : s;
  }
  return canonical(BigInt(a) + BigInt(b));
}

/** The number an amount of micro-units stands for (nearest double). */
export function fromMicro(m: Micro): number {
  if (typeof m === 'number') return m / 1e6;
  const b = BigInt(m);
  return Number(b / 1_000_000n) + Number(b % 1_000_000n) / 1e6;
}

/** Rounds to 6 decimals for display. */
export function round6(n: number): number {
  const r = Math.round(n * 1e6) / 1e6;
  return r === 0 ? 0 : r;
}
