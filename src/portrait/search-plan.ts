/**
 * Choosing how a search reads profiles: the members of the smallest segment
 * every match must belong to rather than the whole workspace, and only the
 * page it returns when nothing but where it reads decides the matches and
 * the order is by profile id. Anything else scans the workspace.
 */
import type { StateStore } from '../storage/index.ts';
import { satisfies, type CompiledSearch, type Condition } from './search-filter.ts';

export type SearchPlan =
  /** Check every profile of the workspace (or, with `segment`, every member of that segment). */
  | { kind: 'scan'; segment?: string }
  /** Read the page in id order and count the workspace's profiles (or the segment's members): no document is checked. */
  | { kind: 'page'; segment?: string };

/** The segment a condition requires membership of: it holds for members (value true) and not for others (value false). */
export function requiredSegment(c: Condition): string | undefined {
  if (c.field.ns !== 'segments') return undefined;
  return satisfies(true, c.op, c.value) && !satisfies(false, c.op, c.value) ? c.field.name : undefined;
}

/** Whether a cursor continues an id-ordered search at a profile id (the cursors this API gives out for it do). */
function idCursor(q: CompiledSearch): boolean {
  return q.after === undefined || (typeof q.after.key === 'string' && q.after.key === q.after.id);
}

/**
 * The plan for a search. With several required segments it reads the one
 * with the fewest members (counted without reading documents).
 */
export async function planSearch(q: CompiledSearch, workspace: string, store: Pick<StateStore, 'profileCount'>): Promise<SearchPlan> {
  const required = [...new Set(q.where.map(requiredSegment).filter((s): s is string => s !== undefined))];
  let smallest = 0;
  if (required.length > 1) {
    const sizes = await Promise.all(required.map((s) => store.profileCount(workspace, s)));
    sizes.forEach((n, i) => {
      if (n < sizes[smallest]!) smallest = i;
    });
  }
  const segment = required[smallest];
  const decided = q.where.every((c) => segment !== undefined && requiredSegment(c) === segment);
  const byId = q.sort.field.ns === 'profile' && q.sort.field.name === 'id' && idCursor(q);
  return decided && byId ? { kind: 'page', segment } : { kind: 'scan', segment };
}
