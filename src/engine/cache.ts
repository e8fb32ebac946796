/**
 * Bounded LRU maps for hot profiles and identities, scoped by workspace.
 * One inner Map per workspace avoids building a "workspace + key" string on
 * every lookup. Map iteration order is insertion order, so re-inserting on
 * access keeps the least recently used entry first, where eviction takes it.
 */
export class LruCache<V> {
  private readonly spaces = new Map<string, Map<string, V>>();
  private count = 0;
  constructor(readonly maxEntries: number) {}

  private space(workspace: string): Map<string, V> {
    let m = this.spaces.get(workspace);
    if (m === undefined) this.spaces.set(workspace, (m = new Map()));
    return m;
  }

  /** The entry, marked as recently used. */
  get(workspace: string, key: string): V | undefined {
    const m = this.spaces.get(workspace);
    const v = m?.get(key);
    if (v !== undefined) {
      m!.delete(key);
      m!.set(key, v);
    }
    return v;
  }

  /** The entry, without touching its recency. */
  peek(workspace: string, key: string): V | undefined {
    return this.spaces.get(workspace)?.get(key);
  }

  set(workspace: string, key: string, value: V): void {
    const m = this.space(workspace);
    if (m.delete(key)) this.count--;
    m.set(key, value);
    this.count++;
  }

  delete(workspace: string, key: string): void {
    const m = this.spaces.get(workspace);
    if (m?.delete(key)) this.count--;
  }

  /** Evicts least recently used entries down to the bound, from the largest workspaces first. */
  trim(): void {
    while (this.count > this.maxEntries) {
      let largest: Map<string, V> | undefined;
      for (const m of this.spaces.values()) if (largest === undefined || m.size > largest.size) largest = m;
      if (largest === undefined || largest.size === 0) return;
      const target = Math.max(1, Math.min(largest.size, this.count - this.maxEntries));
      let n = 0;
      for (const k of largest.keys()) {
        if (n++ >= target) break;
        largest.delete(k);
        this.count--;
      }
    }
  }

  /** Whether it holds more entries than its bound (until the next trim). */
  over(): boolean {
    return this.count > this.maxEntries;
  }

  clear(): void {
    this.spaces.clear();
    this.count = 0;
  }

  get size(): number {
    return this.count;
  }
}
