/**
 * One webhook attempt: POST the stored JSON body, signed, with the delivery
 * id as idempotency key, under a timeout. Any 2xx is success; anything else
 * (another status, a network error, the timeout) is a failure; `retryable`
 * tells whether to try again.
 */
import { signatureHeader, SIGNATURE_HEADER } from './signature.ts';

export const DELIVERY_ID_HEADER = 'portrait-delivery-id';

export type AttemptResult = { ok: true; status: number } | { ok: false; status: number | null; error: string };

/**
 * Whether a failed attempt is worth another try: a network error, a timeout,
 * a 5xx, or 408 / 425 / 429 (the receiver asks to come back later). Any
 * other 4xx says the request itself is refused (a wrong URL, a rejected
 * signature): retrying sends the same bytes, so it goes to the dead letters
 * at once, where it can be replayed after a fix.
 */
export function retryable(status: number | null): boolean {
  return status === null || status >= 500 || status === 408 || status === 425 || status === 429 || status < 400;
}

export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body: string; signal: AbortSignal }) => Promise<{ status: number; ok: boolean; arrayBuffer(): Promise<ArrayBuffer> }>;

export interface AttemptInput {
  url: string;
  secret: string;
  deliveryId: string;
  kind: string;
  body: string;
  /** Sending time (ms), from the injected clock: it goes into the signature. */
  now: number;
  timeoutMs: number;
}

export async function attempt(i: AttemptInput, fetchImpl: FetchLike = fetch): Promise<AttemptResult> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'Portrait-Webhooks/1',
    [SIGNATURE_HEADER]: signatureHeader(i.secret, Math.floor(i.now / 1000), i.body),
    [DELIVERY_ID_HEADER]: i.deliveryId,
    'idempotency-key': i.deliveryId,
    'portrait-event': i.kind,
  };
  try {
    const res = await fetchImpl(i.url, { method: 'POST', headers, body: i.body, signal: AbortSignal.timeout(i.timeoutMs) });
    // Read the (ignored) body so the connection can be reused; under the same timeout.
    await res.arrayBuffer().catch(() => undefined);
    return res.ok ? { ok: true, status: res.status } : { ok: false, status: res.status, error: `HTTP ${res.status}` };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return { ok: false, status: null, error: `timed out after ${i.timeoutMs} ms` };
    const cause = err.cause?.code ?? err.cause?.message;
    return { ok: false, status: null, error: cause ? `${err.message} (${cause})` : err.message };
  }
}
