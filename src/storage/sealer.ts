/**
 * Sealing personal data at the row-mapping layer. The engine and the readers
 * see plaintext; what reaches a table holds the values of personal fields
 * sealed (an opaque token per value). The store only needs this interface;
 * src/privacy/pii-sealer.ts implements it with the master keyring.
 */
import type { Json } from '../core/event.ts';
import type { AttributeValue, ProfileDoc } from '../core/profile.ts';
import type { AttributeConflict, HistoryEntry } from './store.ts';

export interface ValueSealer {
  /** True when the attribute's values are personal data and stored sealed. */
  sealed(field: string): boolean;
  /** A token for the value, bound to the workspace and field. */
  seal(workspace: string, field: string, v: Json): string;
  /**
   * The value of a stored value: a token opened, anything else as it is (a value
   * stored before sealing was turned on). Called for every field, sealed or not,
   * so values of a field dropped from the personal list still open.
   */
  open(workspace: string, field: string, stored: Json): Json;
  /**
   * Whether a token is sealed with the key new values are sealed with. When
   * given, a document written again keeps the tokens of its unchanged values
   * instead of sealing each anew (see sealDoc).
   */
  current?(token: string): boolean;
}

/** A store whose sealed values can be rewritten in place (key rotation). */
export interface ResealableStore {
  /** One pass over profiles, history and conflicts, `batch` rows per transaction. */
  rewriteSealed(rewrite: SealedRewrite, batch: number): Promise<RewriteReport>;
}

/**
 * The token last stored for an attribute value, per sealer. Attribute values
 * are replaced, never changed in place, so a value object still holding the
 * same value may be stored with the same token: its profile is written on
 * every commit that touches it, and sealing (a random IV, AES-GCM) each
 * time would cost more than the rest of the write. A token is reused only
 * while it is sealed with the active key, so a rotation still takes effect.
 */
interface LastToken {
  workspace: string;
  field: string;
  v: Json;
  token: string;
}

const lastTokens = new WeakMap<ValueSealer, WeakMap<AttributeValue, LastToken>>();

function tokensOf(s: ValueSealer): WeakMap<AttributeValue, LastToken> | undefined {
  if (s.current === undefined) return undefined;
  let m = lastTokens.get(s);
  if (m === undefined) lastTokens.set(s, (m = new WeakMap()));
  return m;
}

/** A copy of the document with the values of sealed attributes sealed (the input is not changed). */
export function sealDoc(s: ValueSealer | undefined, doc: ProfileDoc): ProfileDoc {
  if (s === undefined) return doc;
  let attributes: ProfileDoc['attributes'] | undefined;
  const tokens = tokensOf(s);
  for (const name in doc.attributes) {
    if (!Object.hasOwn(doc.attributes, name) || !s.sealed(name)) continue;
    const a = doc.attributes[name]!;
    const last = tokens?.get(a);
    let token: string;
    if (last !== undefined && last.v === a.v && last.field === name && last.workspace === doc.workspace && s.current!(last.token)) token = last.token;
    else {
      token = s.seal(doc.workspace, name, a.v);
      tokens?.set(a, { workspace: doc.workspace, field: name, v: a.v, token });
    }
    attributes ??= { ...doc.attributes };
    attributes[name] = { ...a, v: token };
  }
  return attributes === undefined ? doc : { ...doc, attributes };
}

/** Opens the sealed attribute values of a document read from a table, in place. */
export function openDoc(s: ValueSealer | undefined, doc: ProfileDoc): ProfileDoc {
  if (s === undefined) return doc;
  const tokens = tokensOf(s);
  for (const [name, a] of Object.entries(doc.attributes)) {
    const stored = a.v;
    a.v = s.open(doc.workspace, name, stored);
    // Written back unchanged, the value keeps the token it was read with.
    if (tokens !== undefined && typeof stored === 'string' && stored !== a.v && s.sealed(name) && s.current!(stored)) tokens.set(a, { workspace: doc.workspace, field: name, v: a.v, token: stored });
  }
  return doc;
}

type Changes = HistoryEntry['changes'];

function mapChanges(changes: Changes, f: (field: string, v: Json) => Json): Changes {
  let out: Changes | undefined;
  // Most entries change computed traits only: look at the keys before copying anything.
  for (const key in changes) {
    if (!key.startsWith('attr.') || !Object.hasOwn(changes, key)) continue;
    const pair = changes[key]!;
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
  return mapChanges(changes, (field, v) => s.open(workspace, field, v));
}

/** The kept and rejected values of a conflict as stored (sealed when the attribute is). */
export function sealConflictValue(s: ValueSealer | undefined, c: AttributeConflict, v: Json): Json {
  return s !== undefined && s.sealed(c.attribute) ? s.seal(c.workspace, c.attribute, v) : v;
}

export function openConflict(s: ValueSealer | undefined, c: AttributeConflict): AttributeConflict {
  if (s === undefined) return c;
  return { ...c, kept: s.open(c.workspace, c.attribute, c.kept), rejected: s.open(c.workspace, c.attribute, c.rejected) };
}

/**
 * Re-writing stored personal values in place (key rotation): `rewrite` gets each
 * stored attribute value with its workspace and field and returns the value to
 * store instead, or undefined to keep it. It may also just look (key usage).
 */
export type SealedRewrite = (workspace: string, field: string, stored: Json) => Json | undefined;

/** What one pass over the stored values did. */
export interface RewriteReport {
  /** Rows read. */
  scanned: number;
  /** Rows written back. */
  rewritten: number;
  /** Rows changed by another writer during the pass (left as they are; run again). */
  raced: number;
}

/** A profile document's text with its attribute values rewritten, or undefined when nothing changed. */
export function rewriteDocText(text: string, workspace: string, rewrite: SealedRewrite): string | undefined {
  const doc = JSON.parse(text) as ProfileDoc;
  let changed = false;
  for (const [name, a] of Object.entries(doc.attributes)) {
    const v = rewrite(workspace, name, a.v);
    if (v !== undefined) {
      a.v = v;
      changed = true;
    }
  }
  return changed ? JSON.stringify(doc) : undefined;
}

/** A history row's entries text with `attr.*` values rewritten, or undefined when nothing changed. */
export function rewriteEntriesText(text: string, workspace: string, rewrite: SealedRewrite): string | undefined {
  const entries = JSON.parse(text) as Array<{ changes: HistoryEntry['changes'] }>;
  let changed = false;
  for (const e of entries) {
    for (const [key, pair] of Object.entries(e.changes)) {
      if (!key.startsWith('attr.')) continue;
      for (const i of [0, 1] as const) {
        const old = pair[i];
        if (old === undefined || old === null) continue;
        const v = rewrite(workspace, key.slice(5), old);
        if (v !== undefined) {
          pair[i] = v;
          changed = true;
        }
      }
    }
  }
  return changed ? JSON.stringify(entries) : undefined;
}

/** A conflict's kept or rejected text (JSON) rewritten, or undefined when unchanged. */
export function rewriteValueText(text: string, workspace: string, field: string, rewrite: SealedRewrite): string | undefined {
  const v = rewrite(workspace, field, JSON.parse(text) as Json);
  return v === undefined ? undefined : JSON.stringify(v);
}

/** An attribute conflict row's kept and rejected values rewritten (as stored text), or undefined when neither changes. */
export function rewriteConflictText(row: { workspace: string; attribute: string; kept: string; rejected: string }, rewrite: SealedRewrite): [string, string] | undefined {
  const kept = rewriteValueText(row.kept, row.workspace, row.attribute, rewrite);
  const rejected = rewriteValueText(row.rejected, row.workspace, row.attribute, rewrite);
  return kept === undefined && rejected === undefined ? undefined : [kept ?? row.kept, rejected ?? row.rejected];
}
