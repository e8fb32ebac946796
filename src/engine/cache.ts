/**
 * A bounded LRU map for hot profiles and identities. Map iteration order is
 * insertion order, so re-inserting on access keeps the least recently used
 * entry first, where eviction takes it.
 */
export class LruCache<V> {
  private readonly map = new Map<string, V>();
  constructor(readonly maxEntries: number) {}

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  peek(key: string): V | undefined {
    return this.map.get(key);
  }

  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  /** Evicts least recently used entries down to the bound. */
  trim(): void {
    let excess = this.map.size - this.maxEntries;
    if (excess <= 0) return;
    for (const k of this.map.keys()) {
      if (excess-- <= 0) break;
      this.map.delete(k);
    }
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}
