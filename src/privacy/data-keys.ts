/**
 * Per-person data keys for crypto-shredding. Every event is sealed with the
 * data key of its owner (the user id, else the anonymous id); the key is kept
 * in the state store sealed with the master keyring, under a subject that is
 * a keyed hash of the owner (so the table names nobody). Deleting the key
 * leaves every copy of those events' personal fields unreadable: the log,
 * replicas, backups.
 *
 * Keys are cached in memory (bounded, least recently used first out, each
 * entry for at most `ttlMs`). `destroy` evicts them here; other threads and
 * processes holding a cached key are told through `forget`, or drop it when
 * its time is up.
 */
import { createHmac } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import type { DataKeyTable } from '../storage/privacy-tables.ts';
import type { Keyring } from './keyring.ts';
import { pooledRandom } from './random-pool.ts';

export interface DataKeysOptions {
  table: DataKeyTable;
  keyring: Keyring;
  /** The instance's identity hash key: subjects are HMACs under it. */
  hashKey: Buffer;
  clock: Clock;
  /** Cached keys at most (default 10,000). */
  cacheSize?: number;
  /** How long a cached key is trusted (ms, default 5 minutes). */
  ttlMs?: number;
}

interface Cached {
  key: Buffer;
  at: number;
}

export class DataKeys {
  private readonly cache = new Map<string, Cached>();
  private readonly cacheSize: number;
  private readonly ttlMs: number;
  private readonly createdListeners = new Set<(workspace: string, keys: ReadonlyMap<string, Buffer>) => void>();

  constructor(private readonly o: DataKeysOptions) {
    this.cacheSize = o.cacheSize ?? 10_000;
    this.ttlMs = o.ttlMs ?? 300_000;
  }

  /** The subject of an identifier key (`user:42`, `anon:abc`) in a workspace. */
  subjectOf(workspace: string, identifier: string): string {
    return createHmac('sha256', this.o.hashKey).update(`datakey\0${workspace}\0${identifier}`).digest('base64url');
  }

  /** The keys of these subjects, created (and stored) for those that have none. */
  async forWrite(workspace: string, subjects: readonly string[]): Promise<Map<string, Buffer>> {
    const { found, missing } = this.fromCache(workspace, subjects);
    if (missing.length === 0) return found;
    const stored = await this.o.table.get(workspace, missing);
    const unstored = missing.filter((s) => !stored.has(s));
    // Drawn from the pool (each randomBytes call has a fixed cost well above 32 bytes' worth).
    const fresh = unstored.map((subject) => {
      const key = pooledRandom(KEY_BYTES);
      return { subject, key, sealed: this.o.keyring.seal(key, aadOf(workspace, subject)) };
    });
    const created = fresh.length > 0 ? await this.o.table.insertMissing(workspace, fresh.map(({ subject, sealed }) => ({ subject, sealed })), this.o.clock.now()) : new Map<string, string>();
    const mine = new Map(fresh.map((f) => [f.subject, f]));
    const madeHere = new Map<string, Buffer>();
    for (const s of missing) {
      const sealed = stored.get(s) ?? created.get(s);
      if (sealed === undefined) throw new Error(`engine invariant: no data key for a subject after creating it`);
      // The key this call stored needs no opening; another writer's (it won the race) does.
      const own = mine.get(s);
      if (own !== undefined && own.sealed === sealed) {
        const key = this.cached(workspace, s, Buffer.from(own.key));
        found.set(s, key);
        madeHere.set(s, key);
      } else found.set(s, this.remember(workspace, s, sealed));
    }
    if (madeHere.size > 0) for (const l of this.createdListeners) l(workspace, madeHere);
    return found;
  }

  /** The keys of those subjects that still have one (a shredded subject is absent from the map). */
  async forRead(workspace: string, subjects: readonly string[]): Promise<Map<string, Buffer>> {
    const { found, missing } = this.fromCache(workspace, subjects);
    if (missing.length === 0) return found;
    const stored = await this.o.table.get(workspace, missing);
    for (const [s, sealed] of stored) found.set(s, this.remember(workspace, s, sealed));
    return found;
  }

  /**
   * Deletes the data keys of these identifiers (keys such as `user:42`; those
   * that own no events are ignored) and evicts them from this cache. Returns
   * the subjects destroyed, for other threads' `forget`.
   */
  async destroy(workspace: string, identifiers: readonly string[]): Promise<{ destroyed: number; subjects: string[] }> {
    const subjects = [...new Set(identifiers.map((i) => this.subjectOf(workspace, i)))];
    this.forget(workspace, subjects);
    const destroyed = await this.o.table.delete(workspace, subjects);
    // Evict again: a read that raced the delete may have cached the key meanwhile.
    this.forget(workspace, subjects);
    return { destroyed, subjects };
  }

  /**
   * Calls `listener` with the keys each `forWrite` creates, once they are
   * stored: another thread that will read the same events (the engine's) can
   * `learn` them rather than look each one up and open it again.
   */
  onCreated(listener: (workspace: string, keys: ReadonlyMap<string, Buffer>) => void): () => void {
    this.createdListeners.add(listener);
    return () => this.createdListeners.delete(listener);
  }

  /** Caches keys another thread created and stored (see onCreated). */
  learn(workspace: string, keys: Iterable<readonly [subject: string, key: Buffer]>): void {
    for (const [s, key] of keys) this.cached(workspace, s, key);
  }

  /** Drops cached keys (another thread or process destroyed them). */
  forget(workspace: string, subjects: readonly string[]): void {
    for (const s of subjects) this.cache.delete(cacheKey(workspace, s));
  }

  private fromCache(workspace: string, subjects: readonly string[]): { found: Map<string, Buffer>; missing: string[] } {
    const found = new Map<string, Buffer>();
    const missing = new Set<string>();
    const now = this.o.clock.now();
    for (const s of subjects) {
      if (found.has(s)) continue;
      const k = cacheKey(workspace, s);
      const c = this.cache.get(k);
      if (c !== undefined && now - c.at < this.ttlMs && now >= c.at) {
        // Re-insert: a Map iterates in insertion order, so the oldest entry is the least recently used.
        this.cache.delete(k);
        this.cache.set(k, c);
        found.set(s, c.key);
      } else {
        if (c !== undefined) this.cache.delete(k);
        missing.add(s);
      }
    }
    return { found, missing: [...missing] };
  }

  private remember(workspace: string, subject: string, sealed: string): Buffer {
    return this.cached(workspace, subject, this.o.keyring.open(sealed, aadOf(workspace, subject)));
  }

  private cached(workspace: string, subject: string, key: Buffer): Buffer {
    this.cache.set(cacheKey(workspace, subject), { key, at: this.o.clock.now() });
    while (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    return key;
  }
}

/** A data key's length (AES-256). */
const KEY_BYTES = 32;

/** What a data key is sealed to with the master keyring: its workspace and subject. */
export const aadOf = (workspace: string, subject: string) => `datakey/${workspace}/${subject}`;
const cacheKey = (workspace: string, subject: string) => `${workspace}\0${subject}`;
