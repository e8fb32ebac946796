/** Problems of a definition sent over the API, named as the caller sent it. */
import { Errors, isPortraitError } from '../core/errors.ts';
import type { DefinitionKind } from '../segments/index.ts';

/**
 * The problems of checking one definition (at `index` among its kind in
 * `input`) named from that definition, as an API caller sent it: its own
 * paths relative to it (`/condition/ref`), another definition's by name
 * (`/segments/vip/condition`, a JSON pointer: "/" in a tag name is "~1").
 */
export function relativeProblems(e: unknown, kind: DefinitionKind, index: number, input: { segments: readonly unknown[]; tags: readonly unknown[] }): unknown {
  if (!isPortraitError(e) || e.code !== Errors.invalidSegment.code || e.problems.length === 0) return e;
  const own = `/${kind}s/${index}`;
  const problems = e.problems.map((p) => {
    if (p.path === own || p.path.startsWith(`${own}/`)) return { ...p, path: p.path.slice(own.length) };
    const m = /^\/(segments|tags)\/(\d+)(.*)$/.exec(p.path);
    const other = m === null ? undefined : (input[m[1] as 'segments' | 'tags'][Number(m[2])] as { name?: unknown } | undefined)?.name;
    return typeof other === 'string' ? { ...p, path: `/${m![1]}/${other.replaceAll('~', '~0').replaceAll('/', '~1')}${m![3]}` } : p;
  });
  return Errors.invalidSegment(`${kind} definition`, problems);
}
