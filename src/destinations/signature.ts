/**
 * Webhook signatures. Each request carries
 * `Portrait-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
 * A receiver recomputes the HMAC over the raw body bytes it received, compares
 * in constant time, and rejects timestamps too far from its own clock (replays).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'portrait-signature';

/** The signature header value for `body` sent at unix second `t`. */
export function signatureHeader(secret: string, t: number, body: string): string {
  return `t=${t},v1=${hmac(secret, t, body)}`;
}

function hmac(secret: string, t: number, body: string | Buffer): string {
  return createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');
}

export type VerifyResult = { ok: true; timestamp: number } | { ok: false; reason: string };

/**
 * Checks a `Portrait-Signature` header against the raw body. `now` is the
 * receiver's time (ms); timestamps further than `toleranceSec` (default 300)
 * from it are refused. Several `v1=` values (during a secret rotation) are accepted.
 */
export function verifySignature(secret: string, header: string | undefined, body: string | Buffer, o: { now?: number; toleranceSec?: number } = {}): VerifyResult {
  if (!header) return { ok: false, reason: 'no signature header' };
  let t: number | undefined;
  const sigs: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === 't' && /^\d+$/.test(v)) t = Number(v);
    else if (k === 'v1' && /^[0-9a-f]{64}$/.test(v)) sigs.push(v);
  }
  if (t === undefined) return { ok: false, reason: 'no timestamp (t=) in the header' };
  if (sigs.length === 0) return { ok: false, reason: 'no v1 signature in the header' };
  const nowSec = Math.floor((o.now ?? Date.now()) / 1000);
  if (Math.abs(nowSec - t) > (o.toleranceSec ?? 300)) return { ok: false, reason: 'timestamp outside the tolerance' };
  const expected = Buffer.from(hmac(secret, t, body), 'hex');
  const ok = sigs.some((s) => timingSafeEqual(Buffer.from(s, 'hex'), expected));
  return ok ? { ok: true, timestamp: t } : { ok: false, reason: 'signature mismatch' };
}
