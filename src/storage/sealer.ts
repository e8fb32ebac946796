/**
 * Sealing personal data at the row-mapping layer. The engine and the readers
 * see plaintext; what reaches a table holds the values of personal fields
 * sealed (an opaque token per value). The store only needs this interface;
 * src/privacy/pii-sealer.ts implements it with the master keyring.
 */
import type { Json } from '../core/event.ts';
import type { ProfileDoc } from '../core/profile.ts';
import type { AttributeConflict, HistoryEntry } from './store.ts';

export interface ValueSealer {
  /** True when the attribute's values are personal data and stored sealed. */
  sealed(field: string): boolean;
  /** A token for the value, bound to the workspace and field. */
  seal(workspace: string, field: string, v: Json): string;
  /** The value of a token (a value stored before sealing was turned on is returned as it is). */
  open(workspace: string, field: string, stored: Json): Json;
}

/** A copy of the document with the values of sealed attributes sealed (the input is not changed). */
export function sealDoc(s: ValueSealer | undefined, doc: ProfileDoc): ProfileDoc {
  if (s === undefined) return doc;
  let attributes: ProfileDoc['attributes'] | undefined;
  for (const [name, a] of Object.entries(doc.attributes)) {
    if (!s.sealed(name)) continue;
    attributes ??= { ...doc.attributes };
    attributes[name] = { ...a, v: s.seal(doc.workspace, name, a.v) };
  }
  return attributes === undefined ? doc : { ...doc, attributes };
}

/** Opens the sealed attribute values of a document read from a table, in place. */
export function openDoc(s: ValueSealer | undefined, doc: ProfileDoc): ProfileDoc {
  if (s === undefined) return doc;
  for (const [name, a] of Object.entries(doc.attributes)) {
    if (s.sealed(name)) a.v = s.open(doc.workspace, name, a.v);
  }
  return doc;
}

type Changes = HistoryEntry['changes'];

function mapChanges(changes: Changes, f: (field: string, v: Json) => Json): Changes {
  let out: Changes | undefined;
  for (const [key, pair] of Object.entries(changes)) {
    if (!key.startsWith('attr.')) continue;
    const field = key.slice(5);
    out ??= { ...changes };
    out[key] = [pair[0] === undefined || pair[0] === null ? pair[0] : f(field, pair[0]), pair[1] === undefined || pair[1] === null ? pair[1] : f(field, pair[1])];
  }
  return out ?? changes;
}

/** History changes with the old and new values of sealed attributes sealed. */
export function sealChanges(s: ValueSealer | undefined, workspace: string, changes: Changes): Changes {
  if (s === undefined) return changes;
  return mapChanges(changes, (field, v) => (s.sealed(field) ? s.seal(workspace, field, v) : v));
}

/** History changes read from a table, opened. */
export function openChanges(s: ValueSealer | undefined, workspace: string, changes: Changes): Changes {
  if (s === undefined) return changes;
  return mapChanges(changes, (field, v) => (s.sealed(field) ? s.open(workspace, field, v) : v));
}

/** The kept and rejected values of a conflict as stored (sealed when the attribute is). */
export function sealConflictValue(s: ValueSealer | undefined, c: AttributeConflict, v: Json): Json {
  return s !== undefined && s.sealed(c.attribute) ? s.seal(c.workspace, c.attribute, v) : v;
}

export function openConflict(s: ValueSealer | undefined, c: AttributeConflict): AttributeConflict {
  if (s === undefined || !s.sealed(c.attribute)) return c;
  return { ...c, kept: s.open(c.workspace, c.attribute, c.kept), rejected: s.open(c.workspace, c.attribute, c.rejected) };
}
