/**
 * Random bytes for IVs, drawn from a pool refilled 4 KiB at a time: each
 * randomBytes call has a fixed cost (OpenSSL's generator) as large as the
 * cipher's own, and sealing draws one IV per personal field and per data key.
 * Every byte is handed out once.
 */
import { randomBytes } from 'node:crypto';

const POOL_BYTES = 4092;

let pool = Buffer.alloc(0);
let at = 0;

/** `n` fresh random bytes (n ≤ 4,092), as a view of the pool: use them at once or copy them. */
export function pooledRandom(n: number): Buffer {
  if (n > POOL_BYTES) throw new Error(`engine invariant: ${n} pooled random bytes asked for, at most ${POOL_BYTES}`);
  if (at + n > pool.length) {
    pool = randomBytes(POOL_BYTES);
    at = 0;
  }
  at += n;
  return pool.subarray(at - n, at);
}
