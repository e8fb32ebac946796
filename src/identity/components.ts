/** Connected components of a profile's identifiers once a link is removed (unmerge). */
import type { IdentityLink } from '../core/identity.ts';

/** The component of `start` within `idents`, following `links`. */
export function componentOf(start: string, idents: readonly string[], links: readonly Pick<IdentityLink, 'a' | 'b'>[]): string[] {
  const inside = new Set(idents);
  const adj = new Map<string, string[]>();
  for (const l of links) {
    if (!inside.has(l.a) || !inside.has(l.b)) continue;
    (adj.get(l.a) ?? adj.set(l.a, []).get(l.a)!).push(l.b);
    (adj.get(l.b) ?? adj.set(l.b, []).get(l.b)!).push(l.a);
  }
  const seen = new Set<string>([start]);
  const stack = [start];
  while (stack.length > 0) {
    const cur = stack.pop()!;
    for (const n of adj.get(cur) ?? []) {
      if (!seen.has(n)) {
        seen.add(n);
        stack.push(n);
      }
    }
  }
  return [...seen].sort();
}
