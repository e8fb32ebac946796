/** How an invalid message is kept in quarantine: its text, and the digest that finds it again. */
import { createHash } from 'node:crypto';

/** The message as text, whatever it is (a cycle or a BigInt inside reads as String(v)). */
export function safeStringify(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * The digest of a message that carries its own messageId (a non-empty
 * string or a number): sent again with the same text (an SDK's retry, an
 * import run twice), it is the same message and finds its quarantine row.
 * Without a messageId two equal messages may be two events: none.
 */
export function quarantineDigest(message: unknown, raw: string): string | undefined {
  if (message === null || typeof message !== 'object' || Array.isArray(message)) return undefined;
  const id = (message as { messageId?: unknown }).messageId;
  const has = (typeof id === 'string' && id !== '') || (typeof id === 'number' && Number.isFinite(id));
  return has ? createHash('sha256').update(raw).digest('base64url') : undefined;
}
