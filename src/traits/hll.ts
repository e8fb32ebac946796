/**
 * HyperLogLog with 2^12 registers (standard error about 1.6%). Registers
 * merge by maximum, so the sketch of a union is the same whatever the order.
 */
import { createHash } from 'node:crypto';

export const HLL_P = 12;
const M = 1 << HLL_P;

export function hllEmpty(): Uint8Array {
  return new Uint8Array(M);
}

export function hllAdd(reg: Uint8Array, item: string): void {
  const h = createHash('md5').update(item).digest();
  const hi = h.readUInt32BE(0);
  const lo = h.readUInt32BE(4);
  const idx = hi >>> (32 - HLL_P);
  // The remaining 52 bits: 20 from `hi`, 32 from `lo`.
  const rest = (hi << HLL_P) >>> 0;
  let rho: number;
  if (rest !== 0) rho = Math.clz32(rest) + 1;
  else rho = 32 - HLL_P + (lo !== 0 ? Math.clz32(lo) : 32) + 1;
  if (rho > reg[idx]!) reg[idx] = rho;
}

export function hllMerge(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(M);
  for (let i = 0; i < M; i++) out[i] = Math.max(a[i]!, b[i]!);
  return out;
}

export function hllEstimate(reg: Uint8Array): number {
  let sum = 0;
  let zeros = 0;
  for (let i = 0; i < M; i++) {
    sum += 2 ** -reg[i]!;
    if (reg[i] === 0) zeros++;
  }
  const alpha = 0.7213 / (1 + 1.079 / M);
  const raw = (alpha * M * M) / sum;
  if (raw <= 2.5 * M && zeros > 0) return Math.round(M * Math.log(M / zeros));
  return Math.round(raw);
}

export const hllEncode = (reg: Uint8Array): string => Buffer.from(reg).toString('base64');
export const hllDecode = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
