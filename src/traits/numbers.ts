/**
 * Exact arithmetic for aggregator states. Numbers are rounded to 6 decimals
 * and summed as integer micro-units, so a sum is the same whatever the order
 * of its terms: float addition is not associative, integer addition is.
 * A micro amount is a plain number while it is a safe integer and a decimal
 * string (BigInt arithmetic) beyond; the form depends only on the value, so
 * equal amounts always serialise alike.
 */

export type Micro = number | string;

/** A finite number from a number or a numeric string; undefined otherwise. */
export function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

function canonical(b: bigint): Micro {
  return b <= BigInt(Number.MAX_SAFE_INTEGER) && b >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(b) : b.toString();
}

/** Micro-units of `n`. */
export function toMicro(n: number): Micro {
  const m = Math.round(n * 1e6);
  return Number.isSafeInteger(m) ? m : canonical(BigInt(m));
}

export function addMicro(a: Micro, b: Micro): Micro {
  if (typeof a === 'number' && typeof b === 'number') {
    const s = a + b;
    if (Number.isSafeInteger(s)) return s;
  }
  return canonical(BigInt(a) + BigInt(b));
}

export function fromMicro(m: Micro): number {
  if (typeof m === 'number') return m / 1e6;
  const b = BigInt(m);
  return Number(b / 1_000_000n) + Number(b % 1_000_000n) / 1e6;
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
