/**
 * The links unmerges removed, which no event may make again (Engine.unlink).
 * Also indexed by identifier: a partition that hands a profile over sends the
 * blocks naming its identifiers with it (cluster-step.ts), so they travel
 * with the profile.
 */
import { scoped } from '../storage/index.ts';

/** A removed link, `a < b`. */
export interface BlockedLink {
  workspace: string;
  a: string;
  b: string;
}

/** The key of a link whichever way round it is given: `ws\0a\0b` with a < b. */
function blockedKey(workspace: string, a: string, b: string): string {
  return a < b ? `${workspace}\u0000${a}\u0000${b}` : `${workspace}\u0000${b}\u0000${a}`;
}

export class BlockedLinks {
  private readonly keys = new Set<string>();
  /** scoped(workspace, identifier) → the other identifier of each block naming it. */
  private readonly byIdent = new Map<string, string[]>();

  constructor(rows: Iterable<BlockedLink> = []) {
    for (const r of rows) this.add(r.workspace, r.a, r.b);
  }

  get size(): number {
    return this.keys.size;
  }

  has(workspace: string, a: string, b: string): boolean {
    return this.keys.size > 0 && this.keys.has(blockedKey(workspace, a, b));
  }

  /** Blocks a link; false when it was blocked already. */
  add(workspace: string, a: string, b: string): boolean {
    const key = blockedKey(workspace, a, b);
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const k = scoped(workspace, x);
      const others = this.byIdent.get(k);
      if (others === undefined) this.byIdent.set(k, [y]);
      else others.push(y);
    }
    return true;
  }

  /** The blocks naming one of these identifiers, each once as `[a, b]` with a < b, sorted (what a handover carries). */
  naming(workspace: string, identKeys: Iterable<string>): Array<[string, string]> {
    if (this.keys.size === 0) return [];
    const found = new Map<string, [string, string]>();
    for (const x of identKeys) {
      for (const y of this.byIdent.get(scoped(workspace, x)) ?? []) {
        const pair: [string, string] = x < y ? [x, y] : [y, x];
        found.set(`${pair[0]}\u0000${pair[1]}`, pair);
      }
    }
    return [...found.keys()].sort().map((k) => found.get(k)!);
  }
}
