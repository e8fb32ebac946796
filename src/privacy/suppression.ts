/**
 * The suppression list: identifiers of erased people, kept only as keyed
 * hashes (HMAC-SHA256 with a per-workspace key derived from the instance's
 * hash key), so late events do not recreate the person. Held in memory as a
 * set per workspace; the store keeps the rows.
 */
import { createHmac } from 'node:crypto';
import type { PortraitEvent } from '../core/event.ts';
import { identifiersOf, type EmailHasher } from '../identity/index.ts';
import type { PrivacyStore } from '../storage/index.ts';

export class SuppressionList {
  private readonly sets = new Map<string, Set<string>>();
  private readonly keys = new Map<string, Buffer>();
  /** How many stored rows the list was last read with (-1: never). */
  private rows = -1;

  constructor(private readonly hashKey: Buffer) {}

  /** The workspace's suppression key: derived, so one workspace's hashes say nothing about another's. */
  private keyOf(workspace: string): Buffer {
    let k = this.keys.get(workspace);
    if (k === undefined) {
      k = createHmac('sha256', this.hashKey).update(`portrait suppression\u0000${workspace}`).digest();
      this.keys.set(workspace, k);
    }
    return k;
  }

  /** The keyed hash of an identifier key (`user:42`, `email:<hash>`, …) in a workspace. */
  hash(workspace: string, identKey: string): string {
    return createHmac('sha256', this.keyOf(workspace)).update(identKey).digest('hex');
  }

  add(workspace: string, hashes: Iterable<string>): void {
    let s = this.sets.get(workspace);
    if (s === undefined) this.sets.set(workspace, (s = new Set()));
    for (const h of hashes) s.add(h);
  }

  /** Whether any of these identifier keys is suppressed; free when the workspace suppresses nothing. */
  suppressed(workspace: string, identKeys: Iterable<string>): boolean {
    const s = this.sets.get(workspace);
    if (s === undefined || s.size === 0) return false;
    for (const k of identKeys) if (s.has(this.hash(workspace, k))) return true;
    return false;
  }

  /**
   * Reads the stored list again when it grew (rows are only ever added, so a
   * changed count means new ones): other nodes' erasures, and identifiers
   * partitioned workers add to an erasure's list.
   */
  async follow(stored: Pick<PrivacyStore, 'suppressionCount' | 'suppressions'>): Promise<void> {
    const rows = await stored.suppressionCount();
    if (rows === this.rows) return;
    for (const s of await stored.suppressions()) this.add(s.workspace, [s.hash]);
    this.rows = rows;
  }

  /** Whether the workspace suppresses anything (to skip the per-event work). */
  any(workspace: string): boolean {
    return (this.sets.get(workspace)?.size ?? 0) > 0;
  }
}

/** Every identifier key an event carries: its owner, linked ids, an alias's previous id (either kind). */
export function eventIdentKeys(e: PortraitEvent, hashEmail: EmailHasher): string[] {
  const ids = identifiersOf(e, hashEmail);
  const out = [ids.owner, ...ids.linked];
  if (ids.aliasPrevious !== undefined) out.push(`user:${ids.aliasPrevious}`, `anon:${ids.aliasPrevious}`);
  return out;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

/**
 * The identifier keys a raw message names, read leniently (it may be
 * invalid): user id, anonymous id, previous id, email, external ids.
 * Ids given as numbers count too, as the SDKs often send them.
 */
export function rawIdentKeys(raw: unknown, hashEmail: EmailHasher, workspace: string): string[] {
  const m = obj(raw);
  if (m === undefined) return [];
  const id = (v: unknown) => str(v) ?? (typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined);
  const out: string[] = [];
  const userId = id(m.userId ?? m.user_id);
  const anonymousId = id(m.anonymousId ?? m.anonymous_id);
  const previousId = id(m.previousId ?? m.previous_id);
  if (userId !== undefined) out.push(`user:${userId}`);
  if (anonymousId !== undefined) out.push(`anon:${anonymousId}`);
  if (previousId !== undefined) out.push(`user:${previousId}`, `anon:${previousId}`);
  const ctx = obj(m.context);
  for (const email of [obj(m.traits)?.email, obj(ctx?.traits)?.email]) {
    const h = hashEmail(workspace, email);
    if (h !== undefined) out.push(`email:${h}`);
  }
  if (Array.isArray(ctx?.externalIds)) {
    for (const x of ctx.externalIds) {
      const o = obj(x);
      if (o && str(o.type) && str(o.id)) out.push(`ext:${(o.type as string).toLowerCase()}:${o.id as string}`);
    }
  }
  return out;
}
