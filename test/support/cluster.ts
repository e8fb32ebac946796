/**
 * Comparing the state of partitioned workers. Rows of the merges and conflict
 * tables are numbered (`seq`) in commit order, and partitions commit in
 * whatever order their workers run: across partitions that order is not
 * state. These lines are compared without `seq`, as a sorted list; every
 * other line keeps its place.
 */
const NUMBERED = ['merges ', 'identity_conflicts ', 'attribute_conflicts '];

export function comparableDump(lines: readonly string[]): string[] {
  const kept: string[] = [];
  const numbered: string[] = [];
  for (const l of lines) {
    const table = NUMBERED.find((t) => l.startsWith(t));
    if (table === undefined) {
      kept.push(l);
      continue;
    }
    const row = JSON.parse(l.slice(table.length)) as Record<string, unknown>;
    delete row.seq;
    numbered.push(table + JSON.stringify(Object.fromEntries(Object.entries(row).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))));
  }
  return [...kept, ...numbered.sort()];
}

/** Polls `check` every 50 ms until it holds, or fails after `ms` with `what`. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
