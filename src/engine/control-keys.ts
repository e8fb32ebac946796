/**
 * The identifier keys the records of a partition's log name: those a batch
 * may look up (to prefetch them before a step), and those a control record
 * is judged by against the identifiers erased here.
 */
import type { ControlBody } from '../core/control.ts';
import type { Positioned } from '../core/event.ts';
import { identKey } from '../core/identity.ts';
import type { EventIdentifiers } from '../identity/index.ts';
import { pushIdentKeys } from './step.ts';

/** The identifiers a batch's records may look up (to prefetch them), control records included. */
export function controlKeysOf(rows: readonly Positioned[], ids: ReadonlyArray<EventIdentifiers | undefined>): Array<{ workspace: string; ident: string }> {
  const out: Array<{ workspace: string; ident: string }> = [];
  rows.forEach((row, i) => {
    const r = row.record;
    const ws = r.workspace;
    const x = ids[i];
    if (x !== undefined) {
      pushIdentKeys(out, ws, x);
      return;
    }
    if (r.type === 'group_tag') out.push({ workspace: ws, ident: identKey('group', r.groupId) });
    if (r.type !== 'control') return;
    const b = r.body;
    switch (b.kind) {
      case 'forward':
        return;
      case 'link':
        out.push({ workspace: ws, ident: b.ident }, { workspace: ws, ident: b.anchor });
        if (b.alias) out.push({ workspace: ws, ident: `anon:${b.ident.slice(5)}` });
        return;
      case 'give':
        out.push({ workspace: ws, ident: b.anchor });
        return;
      case 'grant':
        out.push({ workspace: ws, ident: b.anchor }, { workspace: ws, ident: b.ident });
        return;
      case 'handover':
        out.push({ workspace: ws, ident: b.target });
        return;
      case 'forget':
        return;
      case 'traits':
        out.push({ workspace: ws, ident: b.ident });
        return;
      default:
        b satisfies never;
    }
  });
  return out;
}

/** The identifier keys a link, give, grant or handover names (an alias's previous id: either kind). */
export function namedBy(b: Exclude<ControlBody, { kind: 'forward' | 'forget' }>): string[] {
  switch (b.kind) {
    case 'link':
      return [b.ident, ...(b.alias ? [`anon:${b.ident.slice('user:'.length)}`] : []), b.anchor, ...b.identifiers];
    case 'give':
      return [b.anchor, b.target];
    case 'grant':
      return [b.ident, b.anchor];
    case 'handover':
      return [b.target, b.meta.a, ...b.doc.identifiers];
    case 'traits':
      return [b.ident];
    default:
      return b satisfies never;
  }
}
