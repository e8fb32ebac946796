/**
 * How the history records the change of a computed trait's value.
 *
 * A value that is a map by key on both sides — a JSON object (interest per
 * category, RFM) or what the aggregator's `keyed` makes of it (a top list as
 * key → count) — is recorded per key that differs: `trait.<name>.<key>` →
 * [old, new], an absent key as undefined (null once stored). Trait names hold
 * no dot, so the key is everything after the second dot. A map whose keys
 * all read the same has not changed (even if their order moved). Any other
 * value is recorded whole: `trait.<name>` → [old, new].
 *
 * History rows written before keys were split hold whole values;
 * `splitTraitChanges` gives whole objects the same shape when they are read
 * (a top list, which it cannot tell from a plain list, stays whole).
 */
import type { Json, JsonObject } from '../core/event.ts';
import type { Aggregator } from '../traits/aggregator.ts';
import { sameJson } from './attributes.ts';

export type Change = [Json | undefined, Json | undefined];
export type Changes = Record<string, Change>;

/** History keys of computed traits (`trait.<name>`), built once per name rather than per change. */
const traitKeys = new Map<string, string>();
export function traitKey(name: string): string {
  let k = traitKeys.get(name);
  if (k === undefined) traitKeys.set(name, (k = `trait.${name}`));
  return k;
}

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value as a map by key, or undefined when it is not one. */
function keyedOf(agg: Pick<Aggregator, 'keyed'>, v: Json | undefined): JsonObject | undefined {
  if (v === undefined || v === null) return undefined;
  if (agg.keyed !== undefined) return agg.keyed(v) as JsonObject;
  return isObject(v) ? v : undefined;
}

/**
 * Records the change of trait `t` from `before` to `after` in `changes`
 * (see the module comment). With `always`, a value that reads the same is
 * recorded too (whole), so that what reads the trait is looked at again.
 */
export function recordTraitChange(changes: Changes, t: { name: string; aggregator: Pick<Aggregator, 'keyed'> }, before: Json | undefined, after: Json | undefined, always = false): void {
  const key = traitKey(t.name);
  const b = keyedOf(t.aggregator, before);
  const a = b === undefined ? undefined : keyedOf(t.aggregator, after);
  if (a !== undefined ? !splitInto(changes, key, b!, a) && always : always || !sameJson(before, after)) changes[key] = [before, after];
}

/** Records changes an aggregator reported per key of trait `name`'s value (`addReporting`): `trait.<name>.<key>` → [old, new]. */
export function recordKeyChanges(changes: Changes, name: string, perKey: Record<string, [unknown, unknown]>): void {
  const key = traitKey(name);
  for (const k in perKey) changes[`${key}.${k}`] = perKey[k] as Change;
}

/** Adds `<key>.<k>` → [old, new] for each key `k` whose value differs; whether any did. */
function splitInto(out: Changes, key: string, before: JsonObject, after: JsonObject): boolean {
  let any = false;
  for (const k of Object.keys(before)) {
    const o = before[k];
    const v = Object.hasOwn(after, k) ? after[k] : undefined;
    if (sameJson(o, v)) continue;
    out[`${key}.${k}`] = [o, v];
    any = true;
  }
  for (const k of Object.keys(after)) {
    if (Object.hasOwn(before, k)) continue;
    out[`${key}.${k}`] = [undefined, after[k]];
    any = true;
  }
  return any;
}

/** The trait a history key names (`trait.<name>` or `trait.<name>.<key>`), or undefined for another kind of key. */
export function traitOfKey(key: string): string | undefined {
  if (!key.startsWith('trait.')) return undefined;
  const dot = key.indexOf('.', 6);
  return dot < 0 ? key.slice(6) : key.slice(6, dot);
}

/**
 * Changes as recorded now: a whole-object trait change (as rows written
 * before keys were split hold them) becomes one change per differing key.
 * Returns `changes` itself when there is nothing to split.
 */
export function splitTraitChanges(changes: Changes): Changes {
  let out: Changes | undefined;
  for (const key in changes) {
    if (!Object.hasOwn(changes, key) || !key.startsWith('trait.') || key.indexOf('.', 6) >= 0) continue;
    const [o, v] = changes[key]!;
    if (!isObject(o) || !isObject(v)) continue;
    const parts: Changes = {};
    if (!splitInto(parts, key, o, v)) continue;
    out ??= { ...changes };
    delete out[key];
    Object.assign(out, parts);
  }
  return out ?? changes;
}
