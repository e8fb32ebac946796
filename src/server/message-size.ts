/**
 * The message size limit (32 KB as Segment documents it) is on a message's
 * JSON. Serialising every message of every batch only to measure it costs
 * about half as much as parsing the batch did, so a cheap walk first bounds
 * the size from above (never below the real size); only a message whose
 * bound passes the limit is serialised and measured exactly.
 */

/** Most bytes JSON.stringify can write for a number ("-1.2345678901234567e-308"). */
const NUMBER_BYTES = 25;
/** Most bytes one UTF-16 code unit of a string can take in JSON ("\u001f"; a non-ASCII one takes at most 3 in UTF-8). */
const CHAR_BYTES = 6;

/**
 * An upper bound of the UTF-8 length of JSON.stringify(v), or Infinity
 * (past `budget`, or for a value that is not plain JSON data).
 */
function upperBound(v: unknown, budget: number): number {
  switch (typeof v) {
    case 'string':
      return CHAR_BYTES * v.length + 2;
    case 'number':
      return NUMBER_BYTES;
    case 'boolean':
      return 5;
    case 'undefined':
      return 4;
    case 'object': {
      if (v === null) return 4;
      let n = 2;
      if (Array.isArray(v)) {
        for (const x of v) {
          n += upperBound(x, budget - n) + 1;
          if (n > budget) return Infinity;
        }
        return n;
      }
      if (Object.getPrototypeOf(v) !== Object.prototype) return Infinity;
      for (const k in v) {
        n += CHAR_BYTES * k.length + 4 + upperBound((v as Record<string, unknown>)[k], budget - n);
        if (n > budget) return Infinity;
      }
      return n;
    }
    default:
      return Infinity;
  }
}

/** True when the JSON of `v` is longer than `limit` bytes (UTF-8). */
export function jsonLongerThan(v: unknown, limit: number): boolean {
  if (upperBound(v, limit) <= limit) return false;
  return Buffer.byteLength(JSON.stringify(v) ?? '') > limit;
}
